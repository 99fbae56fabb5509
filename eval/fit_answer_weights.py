"""Fit the answer weights and the abstention bars on development data only.

python -m eval.fit_answer_weights            # prints settings to paste into rag/settings.py

Development data: the `tune` articles of the XQuAD suite (eval/xquad.py), the first, third and fifth of its
left-out articles (unanswerable there), and the dev half of eval/gold.jsonl. The `report` articles, the other
left-out articles and the gold test half are never read here.

For every question the model scores a wide shortlist of candidates once; the weights are then chosen by
coordinate search to maximise the mean F1 of the top candidate, and the two abstention bars (evidence coverage,
answer score) to maximise mean F1 on answerable questions while abstaining on 90% of the unanswerable ones.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from eval.matching import mentions
from eval.run import HERE, load_gold, load_split
from eval.squad import f1_score
from eval.xquad import DEFAULT_DATA, load_xquad, open_system
from rag.answer import Features

SHORTLIST = 20  # candidates the model scores per question while fitting (the service scores fewer)
MIN_ABSTENTION = 0.9  # on unanswerable dev questions; the issue asks 0.85 on held-out ones, so some margin
WEIGHT_GRID = [-4.0, -2.0, -1.0, -0.5, -0.25, 0.0, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0]
# a weight moves only for at least this much mean F1 on dev: a smaller gain is a question or two, which is noise
MIN_GAIN = 0.005


@dataclass
class Case:
    """One development question: what the pipeline saw, and how good each candidate would be as the answer."""

    question: str
    answerable: bool
    coverage: float
    candidates: list[tuple[dict[str, float], float]]  # (features, F1 against the gold), best-ranked first
    news: bool = False  # from the gold set's news articles, not from XQuAD


def collect(answerer, questions: list[tuple[str, bool, Callable[[str], float]]]) -> list[Case]:
    cases = []
    for n, (text, answerable, grade) in enumerate(questions, 1):
        retrieval = answerer.retrieve(text, answerer.settings.top_k)
        shortlist = answerer.shortlist(retrieval, SHORTLIST) if retrieval.evidence else []
        candidates = [(vars(s.features), grade(s.candidate.text)) for s in shortlist]
        cases.append(Case(text, answerable, retrieval.coverage, candidates))
        if n % 50 == 0:
            print(f"fit: {n}/{len(questions)} questions read", file=sys.stderr)
    return cases


def best_of(case: Case, weights: dict[str, float], size: int) -> tuple[float, float] | None:
    """(score, F1) of the candidate these weights would choose among the `size` the model would read."""
    def score(features: dict[str, float], with_model: bool = True) -> float:
        return sum(w * features.get(k, 0.0) for k, w in weights.items() if with_model or not k.startswith("model"))

    read = sorted(case.candidates, key=lambda c: -score(c[0], with_model=False))[:size]
    return max(((score(f), f1) for f, f1 in read), key=lambda pair: pair[0], default=None)


def mean_f1(cases: list[Case], weights: dict[str, float], size: int) -> float:
    answerable = [c for c in cases if c.answerable]
    chosen = [best_of(c, weights, size) for c in answerable]
    return sum(b[1] for b in chosen if b) / max(1, len(answerable))


def fit_weights(cases: list[Case], weights: dict[str, float], size: int, rounds: int = 4):
    """Coordinate search: each weight in turn takes the grid value that helps most, if it helps by MIN_GAIN."""
    best = mean_f1(cases, weights, size)
    for _ in range(rounds):
        for name in weights:
            for value in WEIGHT_GRID:
                score = mean_f1(cases, weights | {name: value}, size)
                if score > best + MIN_GAIN:
                    best, weights = score, weights | {name: value}
    return weights, best


def fit_bars(cases: list[Case], weights: dict[str, float], size: int):
    """The evidence and score bars that maximise mean F1 on answerable questions while abstaining on at least
    MIN_ABSTENTION of the unanswerable ones."""
    answerable = [c for c in cases if c.answerable]
    unanswerable = [c for c in cases if not c.answerable]
    chosen = {id(c): best_of(c, weights, size) for c in cases}

    def utility(min_coverage: float, min_score: float) -> float:
        def answers(c: Case) -> bool:
            b = chosen[id(c)]
            return b is not None and c.coverage >= min_coverage and b[0] >= min_score

        # news (the gold dev half) and Wikipedia (XQuAD) count alike, though XQuAD has eight times the questions
        gained = [
            sum(chosen[id(c)][1] for c in group if answers(c)) / max(1, len(group))
            for group in ([c for c in answerable if c.news], [c for c in answerable if not c.news])
        ]
        refused = sum(not answers(c) for c in unanswerable) / max(1, len(unanswerable))
        return sum(gained) / 2 if refused >= MIN_ABSTENTION else refused - 1

    scores = sorted(b[0] for b in chosen.values() if b)
    bars = [scores[int(q * (len(scores) - 1))] for q in [k / 40 for k in range(41)]]
    coverages = [round(0.05 * k, 2) for k in range(0, 17)]
    return max((utility(c, s), c, round(s, 2)) for c, s in itertools.product(coverages, bars))


def development_questions(data: Path, store: Path):
    articles = load_xquad(data)
    settings, answerer = open_system({}, store, articles)
    left_out = [a for a in articles if a["role"] == "left_out"][::2]
    questions = [
        (q["question"], True, lambda text, golds=q["answers"]: max(f1_score(text, g) for g in golds))
        for a in articles
        if a["role"] == "tune"
        for q in a["questions"]
    ] + [(q["question"], False, lambda text: 0.0) for a in left_out for q in a["questions"]]
    return answerer, questions


def gold_questions(ingest: bool = True):
    from rag.services import build_answerer, ingest_folder, open_store
    from rag.settings import Settings

    answerer = None
    if ingest:
        settings = Settings()
        store = open_store(settings)
        with store.writer():
            ingest_folder(store, settings.articles_dir, settings)
        answerer = build_answerer(settings, store)
    dev = set(load_split(HERE / "gold_split.toml")["dev"])
    items = [i for i in load_gold(HERE / "gold.jsonl") if i["id"] in dev]

    def grade(item):
        return lambda text: float(all(mentions(text, facts) for facts in item["required_facts"]))

    return answerer, [(i["question"], i["answerable"], grade(i)) for i in items]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--store", type=Path, default=Path("var/xquad"))
    parser.add_argument("--cache", type=Path, default=HERE / "reports" / "fit_cases.json")
    parser.add_argument("--reuse", action="store_true", help="fit on the cached cases instead of asking again")
    args = parser.parse_args(argv)

    if args.reuse:
        cases = [Case(**c) for c in json.loads(args.cache.read_text(encoding="utf-8"))]
        news = {q for q, *_ in gold_questions(ingest=False)[1]}
        cases = [replace(c, news=c.question in news) for c in cases]
    else:
        cases = []
        for news, (answerer, questions) in enumerate((development_questions(args.data, args.store), gold_questions())):
            cases += [replace(c, news=bool(news)) for c in collect(answerer, questions)]
        args.cache.parent.mkdir(parents=True, exist_ok=True)
        args.cache.write_text(json.dumps([vars(c) for c in cases]), encoding="utf-8")

    from rag.settings import Settings

    defaults = Settings()
    size = defaults.model_candidates
    start = mean_f1(cases, defaults.answer_weights, size)
    every_feature = dict.fromkeys(Features.__dataclass_fields__, 0.0) | defaults.answer_weights
    weights, fitted = fit_weights(cases, every_feature, size)
    utility, min_coverage, min_score = fit_bars(cases, weights, size)
    answerable = [c for c in cases if c.answerable]
    oracle = sum(max((f1 for _, f1 in c.candidates), default=0) for c in answerable) / max(1, len(answerable))
    print(f"dev cases: {len(answerable)} answerable, {len(cases) - len(answerable)} not")
    print(f"mean F1 of the chosen candidate: {start:.3f} with the current weights, {fitted:.3f} fitted")
    print(f"best candidate among the {SHORTLIST} read (oracle): {oracle:.3f}")
    print(f"answer_weights = {weights}")
    print(f"min_coverage = {min_coverage}\nmin_answer_score = {min_score}  (utility {utility:.3f})")
    answered = [c for c in cases if c.coverage >= min_coverage and (b := best_of(c, weights, size)) and b[0] >= min_score]
    print(f"at these bars: answered {sum(c.answerable for c in answered) / max(1, len(answerable)):.3f} of answerable, "
          f"abstained {1 - sum(not c.answerable for c in answered) / max(1, len(cases) - len(answerable)):.3f} "
          "of unanswerable (dev)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
