"""A fast slice of `make eval` inside `make test`: a regression in answer quality fails CI."""

import tomllib

import pytest

from eval.metrics import Observation, check_thresholds, judge, summarize
from eval.run import load_documents, load_gold
from tests.conftest import ARTICLES, ROOT

pytestmark = pytest.mark.integration

# the time-sensitive pairs, the unanswerable questions and the headline facts
SUBSET_TYPES = {"temporal", "unanswerable", "off-topic", "implicit-time", "transliteration", "english"}


def test_answer_quality_on_the_gold_subset(real_answerer):
    items = [i for i in load_gold(ROOT / "eval" / "gold.jsonl") if i["type"] in SUBSET_TYPES]
    documents = load_documents(ARTICLES)
    results = []
    for item in items:
        answer = real_answerer.ask(item["question"])
        ranked = real_answerer.retrieve(item["question"], 10).passages
        seen = Observation(
            answer.answer, answer.abstained, [vars(c) for c in answer.citations], answer.timings_ms,
            answer.timings_ms["total"], [(p.chunk.doc_id, p.chunk.start, p.chunk.end) for p in ranked],
        )  # fmt: skip
        results.append(judge(item, seen, documents))
    summary = summarize(items, results)
    thresholds = tomllib.loads((ROOT / "eval" / "thresholds.toml").read_text())
    problems = check_thresholds(summary["metrics"], thresholds)
    assert not problems, f"{problems}; failing: {summary['failing']}"
