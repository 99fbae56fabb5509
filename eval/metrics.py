"""Per-item judgements and the aggregate metrics of an eval run."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import asdict, dataclass, field

from eval.matching import asserts, exact_match, mentions, normalize, token_f1

KS = (1, 3, 5)


@dataclass
class Observation:
    """What the system did for one gold item."""

    answer: str
    abstained: bool
    citations: list[dict]
    timings_ms: dict[str, float]
    wall_ms: float
    retrieved: list[tuple[str, int, int]] | None = None  # (doc_id, char_start, char_end) of ranked passages


@dataclass
class ItemResult:
    id: str
    type: str
    question: str
    answerable: bool
    answer: str
    abstained: bool
    correct: bool  # answerable: all facts, nothing forbidden; unanswerable: abstained
    forbidden_violation: bool
    exact_match: float | None
    f1: float | None
    crag: int
    citations: int
    citation_valid: float | None
    quote_fidelity: float | None
    gold_source_hit: bool | None
    supported: bool | None
    correct_with_citation: bool | None
    retrieval: dict[str, float] = field(default_factory=dict)
    timings_ms: dict[str, float] = field(default_factory=dict)


def judge(item: dict, seen: Observation, documents: dict[str, str]) -> ItemResult:
    answerable = item["answerable"]
    answered = not seen.abstained
    facts = item["required_facts"]
    forbidden = any(asserts(seen.answer, aliases) for aliases in item["forbidden_facts"]) if answered else False
    has_facts = all(mentions(seen.answer, aliases) for aliases in facts)
    correct = (answered and has_facts and not forbidden) if answerable else seen.abstained
    if answerable:
        crag = 0 if seen.abstained else (1 if correct else -1)
    else:
        crag = 1 if seen.abstained else -1

    quotes_ok = [documents.get(c["doc_id"], "")[c["char_start"] : c["char_end"]] == c["quote"] for c in seen.citations]
    valid = [_citation_valid(c, seen.retrieved, documents) for c in seen.citations]
    cited_docs = {c["doc_id"] for c in seen.citations}
    quotes = " ".join(c["quote"] for c in seen.citations)
    gold_hit = bool(cited_docs & set(item["expected_sources"])) if answerable and answered else None
    supported = all(mentions(quotes, aliases) for aliases in facts) if answerable and answered else None

    references = [" ".join(aliases[0] for aliases in facts)] if len(facts) > 1 else (facts[0] if facts else [])
    short = normalize(seen.answer)
    return ItemResult(
        id=item["id"],
        type=item["type"],
        question=item["question"],
        answerable=answerable,
        answer=seen.answer,
        abstained=seen.abstained,
        correct=correct,
        forbidden_violation=forbidden,
        exact_match=float(any(exact_match(short, r) for r in references)) if answerable else None,
        f1=max((token_f1(short, r) for r in references), default=0.0) if answerable else None,
        crag=crag,
        citations=len(seen.citations),
        citation_valid=sum(valid) / len(valid) if valid else None,
        quote_fidelity=sum(quotes_ok) / len(quotes_ok) if quotes_ok else None,
        gold_source_hit=gold_hit,
        supported=supported,
        correct_with_citation=(correct and bool(gold_hit) and bool(supported)) if answerable else None,
        retrieval=_retrieval(item, seen.retrieved, documents) if answerable and seen.retrieved is not None else {},
        timings_ms={**seen.timings_ms, "wall": seen.wall_ms},
    )


def _citation_valid(citation: dict, retrieved, documents: dict[str, str]) -> bool:
    """The cited span lies in a retrieved passage (or, without retrieval data, in a known article)."""
    if retrieved is None:
        return citation["doc_id"] in documents
    return any(
        doc == citation["doc_id"] and start <= citation["char_start"] and citation["char_end"] <= end
        for doc, start, end in retrieved
    )


def _retrieval(item: dict, retrieved: list[tuple[str, int, int]], documents: dict[str, str]) -> dict[str, float]:
    expected = set(item["expected_sources"])
    ranked_docs = list(dict.fromkeys(doc for doc, _, _ in retrieved))
    scores: dict[str, float] = {}
    for k in KS:
        top = set(ranked_docs[:k])
        scores[f"hit@{k}"] = float(bool(top & expected))
        scores[f"recall@{k}"] = len(top & expected) / len(expected)
    scores["mrr@10"] = next((1.0 / (i + 1) for i, d in enumerate(ranked_docs[:10]) if d in expected), 0.0)
    found = 0
    for evidence in item["evidence"]:
        text = documents.get(evidence["doc_id"], "")
        start = text.find(evidence["quote"])
        end = start + len(evidence["quote"])
        found += any(d == evidence["doc_id"] and s <= start and end <= e for d, s, e in retrieved) and start >= 0
    scores["evidence_found"] = found / len(item["evidence"]) if item["evidence"] else 0.0
    return scores


def _mean(values) -> float | None:
    values = [float(v) for v in values if v is not None]
    return sum(values) / len(values) if values else None


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def summarize(items: list[dict], results: list[ItemResult]) -> dict:
    answerable = [r for r in results if r.answerable]
    unanswerable = [r for r in results if not r.answerable]
    by_id = {i["id"]: i for i in items}

    pairs: dict[str, list[ItemResult]] = defaultdict(list)
    for r in results:
        if by_id[r.id].get("pair_id"):
            pairs[by_id[r.id]["pair_id"]].append(r)
    pairs = {k: v for k, v in pairs.items() if len(v) > 1}
    scoped = [r for r in results if by_id[r.id].get("time_scope") and by_id[r.id]["forbidden_facts"]]

    metrics = {
        "answer_correct": _mean(r.correct for r in answerable),
        "correct_with_citation": _mean(r.correct_with_citation for r in answerable),
        "forbidden_violations": sum(r.forbidden_violation for r in results),
        "exact_match": _mean(r.exact_match for r in answerable),
        "token_f1": _mean(r.f1 for r in answerable),
        "abstention_accuracy": _mean(r.abstained for r in unanswerable),
        "over_refusal": _mean(r.abstained for r in answerable),
        "crag_score": _mean(r.crag for r in results),
        "citation_validity": _mean(r.citation_valid for r in results),
        "quote_fidelity": _mean(r.quote_fidelity for r in results),
        "gold_source_hit": _mean(r.gold_source_hit for r in answerable),
        "citation_support": _mean(r.supported for r in answerable),
        "temporal_pair_accuracy": _mean(all(r.correct for r in group) for group in pairs.values()),
        "temporal_confusion": _mean(r.forbidden_violation for r in scoped),
    }
    retrieval_keys = sorted({k for r in answerable for k in r.retrieval})
    for key in retrieval_keys:
        metrics[key] = _mean(r.retrieval.get(key) for r in answerable if r.retrieval)

    stages = sorted({k for r in results for k in r.timings_ms})
    latency = {
        stage: {
            "p50": percentile([r.timings_ms[stage] for r in results if stage in r.timings_ms], 0.5),
            "p95": percentile([r.timings_ms[stage] for r in results if stage in r.timings_ms], 0.95),
        }
        for stage in stages
    }
    by_type: dict[str, dict] = {}
    for kind in sorted({r.type for r in results}):
        group = [r for r in results if r.type == kind]
        by_type[kind] = {"n": len(group), "correct": _mean(r.correct for r in group)}

    failing = {
        "answer_correct": [r.id for r in answerable if not r.correct],
        "correct_with_citation": [r.id for r in answerable if not r.correct_with_citation],
        "abstention_accuracy": [r.id for r in unanswerable if not r.abstained],
        "forbidden_violations": [r.id for r in results if r.forbidden_violation],
        "quote_fidelity": [r.id for r in results if r.quote_fidelity is not None and r.quote_fidelity < 1],
        "temporal_pair_accuracy": sorted(k for k, group in pairs.items() if not all(r.correct for r in group)),
    }
    return {
        "n": len(results),
        "answerable": len(answerable),
        "unanswerable": len(unanswerable),
        "metrics": metrics,
        "latency_ms": latency,
        "by_type": by_type,
        "failing": failing,
        "items": [asdict(r) for r in results],
    }


def check_thresholds(metrics: dict, thresholds: dict) -> list[str]:
    """The thresholds a run falls short of, as readable lines."""
    problems = []
    for name, bound in thresholds.get("min", {}).items():
        value = metrics.get(name)
        if value is None or value < bound:
            problems.append(f"{name} = {value if value is None else round(value, 3)} < {bound}")
    for name, bound in thresholds.get("max", {}).items():
        value = metrics.get(name)
        if value is None or value > bound:
            problems.append(f"{name} = {value} > {bound}")
    return problems
