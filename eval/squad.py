"""SQuAD v1.1 answer metrics with German normalisation, and the question-word groups of `eval.xquad`.

Pure functions, no model. The normalisation follows the SQuAD v1.1 evaluation script with German articles:
citation markers `[n]` and trailing punctuation go, then lowercase, punctuation removed (with symbols like the
script's "$%+" and invisible format characters such as XQuAD's zero-width spaces), the articles der die das den dem
des ein eine einer eines einem einen dropped as whole words, whitespace collapsed. As in the SQuAD script punctuation is deleted, not turned into a
space ("1.000" == "1000", "Neu-Delhi" -> "neudelhi"). F1 and EM take the maximum over the gold answers; an
abstention scores 0 on an answerable question.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter

from eval.metrics import percentile

GERMAN_ARTICLES = frozenset("der die das den dem des ein eine einer eines einem einen".split())
_MARKERS = re.compile(r"\s*\[\d+\]")


def _drop(char: str) -> bool:
    """Punctuation, symbols (as in the SQuAD script's string.punctuation: $ % + ...) and invisible format marks."""
    category = unicodedata.category(char)
    return category[0] in "PS" or category == "Cf"


def normalize_answer(text: str) -> str:
    text = _MARKERS.sub(" ", unicodedata.normalize("NFC", text)).strip()
    while text and _drop(text[-1]):  # trailing punctuation: "In Genf [1]." -> "In Genf"
        text = text[:-1].rstrip()
    text = "".join(c for c in text.lower() if not _drop(c))
    return " ".join(word for word in text.split() if word not in GERMAN_ARTICLES)


def f1_score(prediction: str, gold: str) -> float:
    predicted, reference = normalize_answer(prediction).split(), normalize_answer(gold).split()
    common = sum((Counter(predicted) & Counter(reference)).values())
    if common == 0:
        return 0.0
    precision, recall = common / len(predicted), common / len(reference)
    return 2 * precision * recall / (precision + recall)


def exact_match_score(prediction: str, gold: str) -> float:
    return float(normalize_answer(prediction) == normalize_answer(gold))


def contains_answer(text: str, gold: str) -> bool:
    """The normalised gold answer stands in the normalised text on word boundaries."""
    needle = normalize_answer(gold)
    return bool(needle) and re.search(rf"(?<!\w){re.escape(needle)}(?!\w)", normalize_answer(text)) is not None


def score_answer(answer: str, abstained: bool, golds: list[str]) -> tuple[float, float]:
    """(F1, EM), each the best over the gold answers; an abstention scores (0, 0)."""
    if abstained or not golds:
        return 0.0, 0.0
    return max(f1_score(answer, g) for g in golds), max(exact_match_score(answer, g) for g in golds)


def judge_row(answer: str, abstained: bool, golds: list[str], citations: list[dict], doc_id: str) -> dict:
    """Per-question scores of an answerable question: F1, EM, gold contained, right article cited, quote holds it."""
    f1, em = score_answer(answer, abstained, golds)
    answered = not abstained
    return {
        "f1": f1,
        "em": em,
        "gold_contained": answered and any(contains_answer(answer, g) for g in golds),
        "cited_right_article": answered and any(c["doc_id"] == doc_id for c in citations),
        "quote_contains_answer": answered and any(contains_answer(c["quote"], g) for c in citations for g in golds),
    }


def answer_words(answer: str) -> int:
    return len(_MARKERS.sub(" ", answer).split())


# -- question words ----------------------------------------------------------------------------------------

QUESTION_WORDS = ("wer", "wann", "wo", "wie viele", "wie", "welche", "was", "warum", "other")

_WH = {
    **dict.fromkeys(("wer", "wen", "wem", "wessen"), "wer"),
    "wann": "wann",
    **dict.fromkeys(("wo", "wohin", "woher"), "wo"),
    **dict.fromkeys(("welche", "welcher", "welches", "welchen", "welchem"), "welche"),
    "was": "was",
    # pronominal adverbs: a preposition with "was" ("wofür" = "für was")
    **dict.fromkeys(
        "wofür wozu wovon worauf woran worüber womit wodurch worin woraus wonach worum wobei wogegen".split(), "was"
    ),
    **dict.fromkeys(("warum", "weshalb", "wieso", "weswegen"), "warum"),
}
_HOW_MANY = frozenset(("viel", "viele", "vielen", "vieler"))


def question_word(question: str) -> str:
    """The group of the question's wh-word: wer / wann / wo / wie viele / wie / welche / was / warum / other.

    The first wh-word counts, so a preposition before it is skipped ("In welchem Jahr" -> welche, "Von wem" ->
    wer, "Mit wie vielen" -> wie viele) and so does a translated SQuAD question that asks in situ ("Der Westen sah
    den Osten als was?" -> was). "Wie viel(e)" and "wievielfache" are "wie viele", every other "wie" is "wie";
    a question without a wh-word ("Nennen Sie ...") is "other".
    """
    words = ["".join(c for c in w.lower() if not _drop(c)) for w in question.split()]
    for i, word in enumerate(words):
        if word == "wie":
            following = words[i + 1] if i + 1 < len(words) else ""
            return "wie viele" if following in _HOW_MANY else "wie"
        if word.startswith("wieviel"):
            return "wie viele"
        if word in _WH:
            return _WH[word]
    return "other"


# -- aggregates --------------------------------------------------------------------------------------------


def _mean(values) -> float | None:
    values = [float(v) for v in values]
    return sum(values) / len(values) if values else None


def group_metrics(rows: list[dict]) -> dict:
    """Figures for a group of result rows (each with `answerable`, `abstained`, `answer`, `latency_ms` and, when
    answerable, the fields of `judge_row`). Answer length counts answered questions only."""
    answered = [r for r in rows if not r["abstained"]]
    latencies = [r["latency_ms"] for r in rows]
    metrics = {
        "n": len(rows),
        "answered": _mean(not r["abstained"] for r in rows),
        "abstained": _mean(r["abstained"] for r in rows),
        "answer_words": _mean(answer_words(r["answer"]) for r in answered),
        "latency_p50_ms": percentile(latencies, 0.5),
        "latency_p95_ms": percentile(latencies, 0.95),
    }
    answerable = [r for r in rows if r["answerable"]]
    if answerable:
        answered_answerable = [r for r in answerable if not r["abstained"]]
        metrics |= {
            "f1": _mean(r["f1"] for r in answerable),
            "em": _mean(r["em"] for r in answerable),
            "gold_contained": _mean(r["gold_contained"] for r in answerable),
            "cited_right_article": _mean(r["cited_right_article"] for r in answerable),
            "cited_right_article_of_answered": _mean(r["cited_right_article"] for r in answered_answerable),
            "quote_contains_answer": _mean(r["quote_contains_answer"] for r in answerable),
            "quote_contains_answer_of_answered": _mean(r["quote_contains_answer"] for r in answered_answerable),
        }
    return metrics


def by_question_word(rows: list[dict]) -> dict[str, dict]:
    return {
        word: group_metrics(group)
        for word in QUESTION_WORDS
        if (group := [r for r in rows if r["question_word"] == word])
    }
