"""B6 of issue 8: real German text the service was not written for, with line breaks and odd spacing inside its
sentences, and questions of every kind through every question route of a real `rag serve`: no 5xx at all."""

from __future__ import annotations

import json
import random
import re
from collections import Counter

import httpx
import pytest

from tests.conftest import ROOT
from tests.integration.serving import serving

pytestmark = pytest.mark.integration

XQUAD = ROOT.parent / "shared" / "xquad-dev" / "xquad.de.dev.json"
ARTICLES = 12  # of its 24; their paragraphs become documents
QUESTIONS = 150  # asked through ask, search and chat each


def roughened(text: str, rng: random.Random) -> str:
    """Line breaks, runs of spaces and tabs put between words, as copied text has them."""
    breaks = ["\n", "  ", "   ", "\t", " \n ", "\r\n"]
    return re.sub(r" ", lambda m: rng.choice(breaks) if rng.random() < 0.08 else " ", text)


def corpus(rng: random.Random) -> tuple[list[dict], list[str]]:
    data = json.loads(XQUAD.read_text(encoding="utf-8"))["data"]
    documents, questions = [], []
    for n, article in enumerate(data[:ARTICLES]):
        for m, paragraph in enumerate(article["paragraphs"]):
            documents.append({"doc_id": f"sweep_{n:02d}_{m:02d}", "text": roughened(paragraph["context"], rng)})
            questions += [qa["question"] for qa in paragraph["qas"]]
    # questions about the ingested paragraphs and about the articles left out, of every question word
    questions += [qa["question"] for article in data[ARTICLES:] for p in article["paragraphs"] for qa in p["qas"]]
    rng.shuffle(questions)
    return documents, questions[:QUESTIONS]


@pytest.mark.skipif(not XQUAD.is_file(), reason="../shared/xquad-dev is not beside the project")
def test_real_text_with_odd_spacing_never_gets_a_server_error(real_store, real_settings, tmp_path):
    rng = random.Random(8)
    documents, questions = corpus(rng)
    statuses: Counter[tuple[str, int]] = Counter()
    with serving(real_settings.store_dir, tmp_path) as server, httpx.Client(base_url=server.url, timeout=120) as http:
        for document in documents:
            response = http.post("/v1/documents", json=document)
            statuses["documents", response.status_code] += 1
        for question in questions:
            calls = {
                "ask": ("/v1/ask", {"question": question}),
                "search": ("/v1/search", {"query": question}),
                "chat": ("/v1/chat/completions", {"messages": [{"role": "user", "content": question}]}),
            }
            for route, (path, body) in calls.items():
                statuses[route, http.post(path, json=body).status_code] += 1
    print(f"\n[B6] {len(documents)} documents, {len(questions)} questions: {dict(sorted(statuses.items()))}")
    assert not [key for key in statuses if key[1] >= 500], statuses
    assert statuses["documents", 201] == len(documents)
    for route in ("ask", "search", "chat"):
        assert statuses[route, 200] == len(questions), statuses
