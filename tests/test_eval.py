import json

import pytest

from eval.matching import asserts, exact_match, mentions, normalize, token_f1
from eval.metrics import Observation, check_thresholds, judge, summarize
from eval.run import load_documents, load_gold
from tests.conftest import ARTICLES, ROOT


def test_normalize_folds_german_spelling_and_citation_markers():
    assert normalize("In Genf [1][2].") == "in genf"
    assert normalize("Außenminister Genève") == "aussenminister geneve"
    assert normalize("Neu-Delhi") == normalize("Neu Delhi") == "neu delhi"


def test_facts_match_on_word_boundaries():
    assert mentions("Im Hotel in Genf.", ["Genf"])
    assert not mentions("In einem Hotel am Genfersee.", ["Genf"])
    assert mentions("in New Delhi", ["Neu-Delhi", "New Delhi"])


def test_a_negated_fact_is_not_asserted():
    assert not asserts("Nicht in Neu-Delhi, sondern in Genf.", ["Neu-Delhi"])
    assert asserts("Nicht in Genf, sondern in Neu-Delhi.", ["Neu-Delhi"])
    assert asserts("In Neu-Delhi [1].", ["Neu-Delhi"])


def test_exact_match_and_f1():
    assert exact_match("In Genf [1].", "Genf")
    assert not exact_match("In Genf und Bern", "Genf")
    assert token_f1("rund eineinhalb Stunden", "eineinhalb Stunden") == pytest.approx(0.8)
    assert token_f1("Genf", "Stockholm") == 0.0


def test_gold_set_is_well_formed_and_grounded():
    items = load_gold(ROOT / "eval" / "gold.jsonl")
    documents = load_documents(ARTICLES)
    assert len(items) >= 60
    assert sum(not i["answerable"] for i in items) >= 12
    assert len({i["id"] for i in items}) == len(items)
    for item in items:
        assert set(item) >= {
            "id",
            "question",
            "answerable",
            "required_facts",
            "forbidden_facts",
            "expected_sources",
            "evidence",
            "time_scope",
            "pair_id",
            "type",
        }
        for doc_id in item["expected_sources"]:
            assert doc_id in documents, (item["id"], doc_id)
        for evidence in item["evidence"]:
            assert evidence["quote"] in documents[evidence["doc_id"]], (item["id"], evidence["quote"])
        if item["answerable"]:
            assert item["required_facts"] and item["expected_sources"] and item["evidence"]


def _item(**overrides):
    item = {"id": "t1", "question": "Wo?", "answerable": True, "required_facts": [["Genf"]],
            "forbidden_facts": [["Neu-Delhi"]], "expected_sources": ["002_606d4c18b25b7e8e"], "evidence": [],
            "time_scope": "2022", "pair_id": "p", "type": "temporal"}  # fmt: skip
    return item | overrides


def test_judging_an_answer_with_a_verbatim_citation():
    documents = load_documents(ARTICLES)
    text = documents["002_606d4c18b25b7e8e"]
    start = text.index("US-Aussenminister Antony Blinken plant")
    end = text.index("in Genf.", start) + len("in Genf.")
    citation = {"doc_id": "002_606d4c18b25b7e8e", "quote": text[start:end], "char_start": start, "char_end": end}
    seen = Observation("In Genf [1].", False, [citation], {"total": 5}, 5.0, [("002_606d4c18b25b7e8e", 0, len(text))])
    result = judge(_item(), seen, documents)
    assert result.correct and result.correct_with_citation and result.quote_fidelity == 1.0
    assert result.retrieval["hit@1"] == 1.0 and result.crag == 1

    forged = dict(citation, quote="in Genf")
    wrong = judge(_item(), Observation("In Neu-Delhi [1].", False, [forged], {}, 5.0, None), documents)
    assert not wrong.correct and wrong.forbidden_violation and wrong.quote_fidelity == 0.0 and wrong.crag == -1


def test_summary_counts_pairs_abstention_and_thresholds():
    documents = load_documents(ARTICLES)
    items = [_item(), _item(id="t2", answerable=False, required_facts=[], expected_sources=[], type="unanswerable")]
    results = [
        judge(items[0], Observation("In Genf.", False, [], {}, 1.0, None), documents),
        judge(items[1], Observation("Dazu finde ich nichts.", True, [], {}, 1.0, None), documents),
    ]
    summary = summarize(items, results)
    assert summary["metrics"]["answer_correct"] == 1.0
    assert summary["metrics"]["abstention_accuracy"] == 1.0
    assert summary["metrics"]["temporal_pair_accuracy"] == 1.0
    assert summary["metrics"]["correct_with_citation"] == 0.0  # no citation, no credit
    assert check_thresholds(summary["metrics"], {"min": {"correct_with_citation": 0.9}}) == [
        "correct_with_citation = 0.0 < 0.9"
    ]
    json.dumps(summary)  # the report is plain JSON
