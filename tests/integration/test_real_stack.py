"""The real stack: Chroma on disk, MiniLM, Gemma 3 270M through llama-cpp-python, the corpus."""

import pytest

from rag.ingest import read_article
from rag.services import ingest_folder
from tests.conftest import ARTICLES

pytestmark = pytest.mark.integration

GENEVA = {"002_606d4c18b25b7e8e", "003_6f9f40feec1ab3b1", "004_26328b77b207f0a4"}
NEW_DELHI = {"000_73fb6efb81153680", "001_d122faae4436eaf2"}


def assert_verbatim(citations):
    assert citations
    for citation in citations:
        text = read_article(ARTICLES / citation.source).text
        assert text[citation.char_start : citation.char_end] == citation.quote


def test_2022_is_geneva(real_answerer):
    answer = real_answerer.ask("Wo trafen sich Blinken und Lawrow 2022?")
    assert not answer.abstained
    assert "Genf" in answer.answer and "Delhi" not in answer.answer
    assert {c.doc_id for c in answer.citations} <= GENEVA
    assert any("Genf" in c.quote for c in answer.citations)
    assert_verbatim(answer.citations)


def test_2023_is_new_delhi(real_answerer):
    answer = real_answerer.ask("Wo trafen sich Blinken und Lawrow 2023?")
    assert not answer.abstained
    assert "Delhi" in answer.answer and "Genf" not in answer.answer
    assert {c.doc_id for c in answer.citations} <= NEW_DELHI
    assert_verbatim(answer.citations)


def test_december_2021_is_stockholm(real_answerer):
    answer = real_answerer.ask("Wo trafen sich Blinken und Lawrow im Dezember 2021?")
    assert "Stockholm" in answer.answer
    assert_verbatim(answer.citations)


@pytest.mark.parametrize("question", ["Wo trafen sich Blinken und Lawrow 2024?", "Wie hoch ist der Eiffelturm?"])
def test_abstains_where_the_articles_are_silent(real_answerer, question):
    answer = real_answerer.ask(question)
    assert answer.abstained and answer.citations == []


def test_english_question_gets_a_german_answer(english_answerer):
    answer = english_answerer.ask("Where did Blinken and Lavrov meet in 2022?")
    assert answer.answer.startswith("Genf")


def test_reingest_is_idempotent(real_store, real_settings):
    before = real_store.chunk_count()
    with real_store.writer():
        report = ingest_folder(real_store, ARTICLES, real_settings).report
    assert len(report.unchanged) == 5 and not (report.added or report.updated or report.removed)
    assert real_store.chunk_count() == before


def test_the_embedder_reads_only_the_tokens_it_is_given(real_settings):
    from rag.store import SentenceTransformerEmbedder

    embedder = SentenceTransformerEmbedder(real_settings.resolved_embedder_path(), max_tokens=16)
    opening = "Die neue Fähre verbindet Cuxhaven mit Helgoland und fährt täglich um neun Uhr"
    ending = " ab. Der Betreiber hofft auf viele Ausflügler aus dem ganzen Land und auf gutes Wetter im Sommer."
    short, long = embedder.embed([opening, opening + ending])
    assert sum(a * b for a, b in zip(short, long)) > 0.999  # the words past the limit change nothing
    full = SentenceTransformerEmbedder(real_settings.resolved_embedder_path())
    short, long = full.embed([opening, opening + ending])
    assert sum(a * b for a, b in zip(short, long)) < 0.99
