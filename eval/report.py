"""Console table, JSON, Markdown and a PNG chart for one or more eval runs."""

from __future__ import annotations

import json
from pathlib import Path

HEADLINE = [
    "answer_correct", "correct_with_citation", "forbidden_violations", "exact_match", "token_f1",
    "abstention_accuracy", "over_refusal", "crag_score",
    "citation_validity", "quote_fidelity", "gold_source_hit", "citation_support",
    "temporal_pair_accuracy", "temporal_confusion",
    "hit@1", "hit@3", "hit@5", "recall@1", "recall@3", "recall@5", "mrr@10", "evidence_found",
]  # fmt: skip


def _fmt(value) -> str:
    if value is None:
        return "n/a"
    return f"{value:.3f}" if isinstance(value, float) else str(value)


def _bound(name: str, thresholds: dict) -> str:
    if name in thresholds.get("min", {}):
        return f">= {thresholds['min'][name]}"
    if name in thresholds.get("max", {}):
        return f"<= {thresholds['max'][name]}"
    return ""


def _rows(runs: dict, thresholds: dict) -> list[list[str]]:
    rows = []
    for name in HEADLINE:
        values = [run["metrics"].get(name) for run in runs.values()]
        if all(v is None for v in values):
            continue
        rows.append([name, *map(_fmt, values), _bound(name, thresholds)])
    stages = sorted({s for run in runs.values() for s in run["latency_ms"]})
    for stage in stages:
        for q in ("p50", "p95"):
            values = [run["latency_ms"].get(stage, {}).get(q) for run in runs.values()]
            rows.append([f"latency {stage} {q} (ms)", *(f"{v:.0f}" if v is not None else "n/a" for v in values), ""])
    return rows


def _scope(runs: dict) -> str:
    first = next(iter(runs.values()))
    return (
        f"gold split `{first.get('split', 'all')}` (eval/gold_split.toml): {first['n']} items "
        f"({first['answerable']} answerable, {first['unanswerable']} unanswerable)"
    )


def print_summary(runs: dict, thresholds: dict) -> None:
    header = ["metric", *runs.keys(), "threshold"]
    rows = _rows(runs, thresholds)
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    line = lambda r: "  ".join(str(c).ljust(w) for c, w in zip(r, widths))  # noqa: E731
    print(f"\n{_scope(runs)}\n")
    print(line(header))
    print(line(["-" * w for w in widths]))
    for row in rows:
        print(line(row))
    for label, run in runs.items():
        print(
            f"\n[{label}] correct by type: "
            + ", ".join(f"{t} {v['correct']:.2f} ({v['n']})" for t, v in run["by_type"].items())
        )
        for metric, ids in run["failing"].items():
            if ids:
                print(f"[{label}] failing {metric}: {' '.join(ids)}")


def write_reports(runs: dict, thresholds: dict, folder: Path, stamp: str) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    json_path = folder / f"{stamp}.json"
    json_path.write_text(json.dumps({"runs": runs, "thresholds": thresholds}, ensure_ascii=False, indent=2), "utf-8")
    md_path = folder / f"{stamp}.md"
    md_path.write_text(_markdown(runs, thresholds, stamp), "utf-8")
    png_path = folder / f"{stamp}.png"
    _chart(runs, png_path)
    return [json_path, md_path, png_path]


def _markdown(runs: dict, thresholds: dict, stamp: str) -> str:
    labels = list(runs)
    out = [f"# Eval report {stamp}", "", f"Scope: {_scope(runs)}", ""]
    out += ["| metric | " + " | ".join(labels) + " | threshold |", "|---|" + "---|" * (len(labels) + 1)]
    out += ["| " + " | ".join(row) + " |" for row in _rows(runs, thresholds)]
    for label, run in runs.items():
        out += ["", f"## {label}", "", f"Settings: `{run['config'] or 'defaults'}`", ""]
        out += ["| type | n | correct |", "|---|---|---|"]
        out += [f"| {t} | {v['n']} | {v['correct']:.2f} |" for t, v in run["by_type"].items()]
        wrong = [i for i in run["items"] if not i["correct"]]
        if wrong:
            out += ["", "| id | question | answer |", "|---|---|---|"]
            out += [f"| {i['id']} | {i['question']} | {i['answer'].replace('|', '/')} |" for i in wrong]
        if run.get("threshold_failures"):
            out += ["", "Below threshold: " + "; ".join(run["threshold_failures"])]
    return "\n".join(out) + "\n"


def _chart(runs: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (by_type, latency) = plt.subplots(1, 2, figsize=(13, 4.8))
    types = sorted({t for run in runs.values() for t in run["by_type"]})
    width = 0.8 / len(runs)
    for n, (label, run) in enumerate(runs.items()):
        values = [run["by_type"].get(t, {}).get("correct") or 0 for t in types]
        by_type.bar([i + n * width for i in range(len(types))], values, width, label=label)
        walls = [item["timings_ms"]["wall"] for item in run["items"]]
        latency.hist(walls, bins=20, alpha=0.6, label=label)
    by_type.set_xticks([i + width * (len(runs) - 1) / 2 for i in range(len(types))], types, rotation=35, ha="right")
    by_type.set_ylim(0, 1.05)
    by_type.set_title("Correct by question type")
    latency.set_title("End-to-end latency per question")
    latency.set_xlabel("ms")
    for axis in (by_type, latency):
        axis.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
