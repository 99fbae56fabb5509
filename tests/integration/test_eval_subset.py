"""A fast slice of `make eval` inside `make test`: a regression in answer quality fails CI."""

import tomllib

import pytest

from eval.metrics import check_thresholds
from eval.run import InProcessSystem, evaluate, load_documents, load_gold
from tests.conftest import ARTICLES, ROOT

pytestmark = pytest.mark.integration

# the time-sensitive pairs, the unanswerable questions and the headline facts: without any alias file
SUBSET_TYPES = {"temporal", "unanswerable", "off-topic", "implicit-time", "transliteration"}


@pytest.mark.parametrize(("types", "answerer"), [(SUBSET_TYPES, "real_answerer"), ({"english"}, "english_answerer")])
def test_answer_quality_on_the_gold_subset(types, answerer, request):
    items = [i for i in load_gold(ROOT / "eval" / "gold.jsonl") if i["type"] in types]
    summary = evaluate(InProcessSystem(request.getfixturevalue(answerer)), items, load_documents(ARTICLES))
    thresholds = tomllib.loads((ROOT / "eval" / "thresholds.toml").read_text())
    problems = check_thresholds(summary["metrics"], thresholds)
    assert not problems, f"{problems}; failing: {summary['failing']}"
