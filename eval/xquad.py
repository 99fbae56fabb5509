"""`make eval-xquad`: the service on XQuAD German, a development suite of text nobody tuned the pipeline on.

python -m eval.xquad                          # all 593 questions (several minutes)
python -m eval.xquad --limit 20 --no-fail     # 20 evenly spread questions per role, for a quick look
python -m eval.xquad --config answer_sentences=5,min_coverage=0.4

Data: `../shared/xquad-dev/xquad.de.dev.json` beside the repository (`--data`), 24 articles of XQuAD's German file in
SQuAD v1.1 format. Source: XQuAD (Artetxe, Ruder and Yogatama, "On the Cross-lingual Transferability of Monolingual
Representations", ACL 2020), the professional German translation of SQuAD v1.1 development paragraphs, published by
google-deepmind/xquad under CC BY-SA 4.0 (https://creativecommons.org/licenses/by-sa/4.0/). Reports quote its
questions and answers under the same licence.

Split, fixed by position in the file (article index i from 0):
- i % 4 == 3 is `left_out` (6 articles): never ingested; every one of its questions should be abstained on.
- the other 18 are ingested and take turns in file order: the first `tune`, the second `report`, ... (9 each).
  `tune` is the half to look at while developing, `report` the honest figure, `all` both together.

Each ingested article is one undated document, its paragraphs' contexts joined by a blank line, with the id
`xq{index:02d}_{slug of the title}`, synced into its own store (`--store`, default var/xquad) with the production
chunking; a re-run reuses it (sync writes only what changed). The suite always uses a local Chroma folder, never
`RAG_CHROMA_URL`: syncing prunes the store to these 18 documents.

Every question is asked with `Answerer.ask(question, top_k=settings.top_k)`; metrics are in `eval/squad.py`. The
`[xquad.min]` table of eval/thresholds.toml applies to the `all` group and to `left_out` (left_out_abstained);
below it the exit status is 1 unless `--no-fail`.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
import tomllib
import unicodedata
from datetime import UTC, datetime
from pathlib import Path

from eval.metrics import check_thresholds
from eval.run import parse_overrides
from eval.squad import QUESTION_WORDS, by_question_word, group_metrics, judge_row, question_word

HERE = Path(__file__).resolve().parent
DEFAULT_DATA = HERE.parent.parent / "shared" / "xquad-dev" / "xquad.de.dev.json"
ROLES = ("tune", "report", "left_out")
GROUPS = ("tune", "report", "all", "left_out")  # `all` = tune + report (the answerable questions)
GROUP_LABELS = {
    "tune": "tune (answerable, 9 articles)",
    "report": "report (answerable, 9 articles; the honest figure)",
    "all": "all answerable (tune + report)",
    "left_out": "left_out (6 articles not ingested; should abstain)",
}
HEADLINE = [
    "f1", "em", "gold_contained", "cited_right_article", "cited_right_article_of_answered",
    "quote_contains_answer", "quote_contains_answer_of_answered", "answered", "abstained", "answer_words",
    "latency_p50_ms", "latency_p95_ms",
]  # fmt: skip
BY_WORD = ["n", "f1", "em", "gold_contained", "cited_right_article_of_answered", "answered"]


# -- data and split ----------------------------------------------------------------------------------------


def slug(title: str, length: int = 24) -> str:
    ascii_title = unicodedata.normalize("NFKD", title).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "_", ascii_title.lower()).strip("_")[:length].rstrip("_")


def role_of(index: int) -> str:
    """left_out for every fourth article (i % 4 == 3); the ingested ones alternate tune, report, tune, ..."""
    if index % 4 == 3:
        return "left_out"
    ingested_before = index - (index + 1) // 4
    return "tune" if ingested_before % 2 == 0 else "report"


def load_xquad(path: Path) -> list[dict]:
    """The articles in file order: index, title, doc_id, role, text, and their questions."""
    data = json.loads(path.read_text(encoding="utf-8"))["data"]
    articles = []
    for index, entry in enumerate(data):
        questions = [
            {"id": qa["id"], "question": qa["question"].strip(), "answers": [a["text"] for a in qa["answers"]]}
            for paragraph in entry["paragraphs"]
            for qa in paragraph["qas"]
        ]
        articles.append(
            {
                "index": index,
                "title": entry["title"],
                "doc_id": f"xq{index:02d}_{slug(entry['title'])}",
                "role": role_of(index),
                "text": "\n\n".join(p["context"].strip() for p in entry["paragraphs"]),
                "questions": questions,
            }
        )
    return articles


def spread(items: list, n: int | None) -> list:
    """An evenly spread, deterministic subset of n items (all of them when n is None or not smaller)."""
    if n is None or n >= len(items):
        return list(items)
    return [items[i * len(items) // n] for i in range(n)]


def select_questions(articles: list[dict], limit: int | None) -> list[dict]:
    """Every question with its article and role; with a limit, `limit` questions spread over each role."""
    selected = []
    for role in ROLES:
        questions = [
            q | {"role": role, "doc_id": a["doc_id"], "title": a["title"]}
            for a in articles
            if a["role"] == role
            for q in a["questions"]
        ]
        selected += spread(questions, limit)
    return selected


# -- running -----------------------------------------------------------------------------------------------


def open_system(overrides: dict[str, str], store_dir: Path, articles: list[dict]):
    """Settings, and an answerer over a store synced with the ingested articles."""
    from rag.ingest import parse_article
    from rag.services import build_answerer, open_store
    from rag.settings import Settings

    settings = Settings(**(overrides | {"store_dir": store_dir, "chroma_url": ""}))
    store = open_store(settings)
    documents = [parse_article(a["text"], a["doc_id"]) for a in articles if a["role"] != "left_out"]
    with store.writer():
        report = store.sync(
            documents, chunk_chars=settings.chunk_chars, overlap_sentences=settings.chunk_overlap_sentences
        )
    print(f"xquad store {store_dir}: {report} ({store.chunk_count()} chunks)", file=sys.stderr)
    store.warm_up()
    return settings, build_answerer(settings, store)


def ask_all(answerer, questions: list[dict], top_k: int) -> list[dict]:
    rows = []
    for n, q in enumerate(questions, 1):
        started = time.perf_counter()
        answer = answerer.ask(q["question"], top_k)
        latency = (time.perf_counter() - started) * 1000
        citations = [vars(c) for c in answer.citations]
        row = {
            "id": q["id"],
            "role": q["role"],
            "doc_id": q["doc_id"],
            "article": q["title"],
            "question": q["question"],
            "question_word": question_word(q["question"]),
            "answerable": q["role"] != "left_out",
            "gold_answers": q["answers"],
            "answer": answer.answer,
            "abstained": answer.abstained,
            "reason": getattr(answer, "reason", None),
            "cited_doc_ids": list(dict.fromkeys(c["doc_id"] for c in citations)),
            "latency_ms": latency,
        }
        if row["answerable"]:
            row |= judge_row(answer.answer, answer.abstained, q["answers"], citations, q["doc_id"])
        else:
            row |= dict.fromkeys(("f1", "em", "gold_contained", "cited_right_article", "quote_contains_answer"))
        rows.append(row)
        if n % 50 == 0 or n == len(questions):
            print(f"xquad: {n}/{len(questions)} asked", file=sys.stderr)
    return rows


def group_rows(rows: list[dict]) -> dict[str, list[dict]]:
    return {
        "tune": [r for r in rows if r["role"] == "tune"],
        "report": [r for r in rows if r["role"] == "report"],
        "all": [r for r in rows if r["answerable"]],
        "left_out": [r for r in rows if r["role"] == "left_out"],
    }


def summarize(rows: list[dict]) -> dict:
    groups = group_rows(rows)
    return {
        "groups": {name: group_metrics(group) for name, group in groups.items() if group},
        "by_question_word": {name: by_question_word(group) for name, group in groups.items() if group},
    }


def thresholded(summary: dict) -> dict:
    """The figures the [xquad.min] thresholds apply to: the `all` group's, and left_out_abstained."""
    groups = summary["groups"]
    return groups.get("all", {}) | {"left_out_abstained": groups.get("left_out", {}).get("abstained")}


# -- reports -----------------------------------------------------------------------------------------------


def _fmt(value) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:.0f}" if value >= 10 else f"{value:.3f}"
    return str(value)


def _bound(metric: str, group: str, bounds: dict) -> str:
    """The [xquad.min] bound on this cell: the `all` group's figures, and left_out's abstention."""
    key = "left_out_abstained" if (group, metric) == ("left_out", "abstained") else metric if group == "all" else None
    return f"{group} >= {bounds[key]}" if key in bounds else ""


def overall_rows(summary: dict, bounds: dict) -> tuple[list[str], list[list[str]]]:
    groups = [g for g in GROUPS if g in summary["groups"]]
    header = ["metric", *groups, "threshold"]
    rows = [["n (questions)", *(_fmt(summary["groups"][g]["n"]) for g in groups), ""]]
    for metric in HEADLINE:
        values = [summary["groups"][g].get(metric) for g in groups]
        if all(v is None for v in values):
            continue
        thresholds = [b for g in groups if (b := _bound(metric, g, bounds))]
        rows.append([metric, *map(_fmt, values), ", ".join(thresholds)])
    return header, rows


def word_rows(summary: dict, group: str) -> tuple[list[str], list[list[str]]]:
    table = summary["by_question_word"].get(group, {})
    header = ["question word", *BY_WORD]
    return header, [[word, *(_fmt(table[word].get(m)) for m in BY_WORD)] for word in QUESTION_WORDS if word in table]


def _print_table(header: list[str], rows: list[list[str]]) -> None:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    for row in [header, ["-" * w for w in widths], *rows]:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip())


def describe_split(articles: list[dict]) -> list[str]:
    return [
        f"{role}: " + ", ".join(f"{a['index']} {a['title']}" for a in articles if a["role"] == role) for role in ROLES
    ]


def print_summary(summary: dict, bounds: dict, articles: list[dict], config: dict) -> None:
    print(f"\nXQuAD German dev: {len(articles)} articles; settings: {config or 'defaults'}")
    for line in describe_split(articles):
        print(f"  {line}")
    print("\nColumns are splits: " + "; ".join(f"{g} = {GROUP_LABELS[g]}" for g in GROUPS) + "\n")
    _print_table(*overall_rows(summary, bounds))
    for group in ("report", "all"):
        if group in summary["by_question_word"]:
            print(f"\nBy question word, split `{group}` ({GROUP_LABELS[group]}):")
            _print_table(*word_rows(summary, group))


def _markdown_table(header: list[str], rows: list[list[str]]) -> list[str]:
    return ["| " + " | ".join(header) + " |", "|" + "---|" * len(header), *("| " + " | ".join(r) + " |" for r in rows)]


def _cell(text: str) -> str:
    return str(text).replace("|", "/").replace("\n", " ")


def markdown(run: dict, articles: list[dict], stamp: str) -> str:
    summary, bounds = run["summary"], run["thresholds"]
    limit = f"; {run['limit']} questions per role" if run["limit"] else "; every question"
    out = [f"# XQuAD German dev report {stamp}", "", f"Settings: `{run['config'] or 'defaults'}`{limit}", ""]
    out += ["Split (article index, title):", ""]
    out += [f"- {line}" for line in describe_split(articles)]
    out += ["", "Groups: " + "; ".join(f"`{g}` = {GROUP_LABELS[g]}" for g in GROUPS), ""]
    out += _markdown_table(*overall_rows(summary, bounds))
    for group in GROUPS:
        if group in summary["by_question_word"]:
            out += ["", f"## By question word, `{group}`", ""] + _markdown_table(*word_rows(summary, group))
    rows = run["rows"]
    missed = [r for r in rows if r["role"] == "report" and r["f1"] < 0.5][:40]
    if missed:
        out += ["", "## `report` questions with F1 < 0.5 (first 40)", "", "| question | gold | answer |", "|---|---|---|"]
        out += [f"| {_cell(r['question'])} | {_cell(r['gold_answers'][0])} | {_cell(r['answer'])} |" for r in missed]
    answered = [r for r in rows if r["role"] == "left_out" and not r["abstained"]][:40]
    if answered:
        out += ["", "## `left_out` questions answered anyway (first 40)", "", "| question | answer |", "|---|---|"]
        out += [f"| {_cell(r['question'])} | {_cell(r['answer'])} |" for r in answered]
    if run["threshold_failures"]:
        out += ["", "Below threshold: " + "; ".join(run["threshold_failures"])]
    out += ["", "Data: XQuAD (Artetxe, Ruder and Yogatama, ACL 2020), google-deepmind/xquad, CC BY-SA 4.0."]
    return "\n".join(out) + "\n"


def chart(summary: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (scores, rates) = plt.subplots(1, 2, figsize=(14, 4.8))
    answerable = summary["by_question_word"].get("all", {})
    left_out = summary["by_question_word"].get("left_out", {})
    words = [w for w in QUESTION_WORDS if w in answerable or w in left_out]
    ticks = [f"{w}\n({answerable.get(w, {}).get('n', 0)}/{left_out.get(w, {}).get('n', 0)})" for w in words]
    series = [
        (scores, answerable, "f1", "F1"),
        (scores, answerable, "em", "EM"),
        (rates, answerable, "answered", "answered (answerable)"),
        (rates, left_out, "abstained", "abstained (left_out)"),
    ]
    for n, (axis, table, metric, label) in enumerate(series):
        values = [table.get(w, {}).get(metric) or 0 for w in words]
        axis.bar([i + (n % 2) * 0.4 for i in range(len(words))], values, 0.4, label=label)
    for axis, title in ((scores, "F1 / EM by question word, all answerable"), (rates, "Answered vs abstained")):
        axis.set_xticks([i + 0.2 for i in range(len(words))], ticks)
        axis.set_ylim(0, 1.2)
        axis.set_title(title)
        axis.legend(loc="upper center", ncol=2)
    scores.set_xlabel("question word (answerable / left-out questions)")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def write_reports(run: dict, articles: list[dict], folder: Path, stamp: str) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    base = folder / f"xquad-{stamp}"
    json_path, md_path, png_path = (base.with_suffix(s) for s in (".json", ".md", ".png"))
    json_path.write_text(json.dumps(run, ensure_ascii=False, indent=2), "utf-8")
    md_path.write_text(markdown(run, articles, stamp), "utf-8")
    chart(run["summary"], png_path)
    return [json_path, md_path, png_path]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="XQuAD JSON (SQuAD v1.1 format)")
    parser.add_argument("--store", type=Path, default=Path("var/xquad"), help="store folder for the XQuAD articles")
    parser.add_argument("--thresholds", type=Path, default=HERE / "thresholds.toml", help="its [xquad.min] table")
    parser.add_argument("--config", default="", metavar="KEY=VALUE,...", help="settings (without the RAG_ prefix)")
    parser.add_argument("--limit", type=int, help="an evenly spread subset of N questions per role")
    parser.add_argument("--out", type=Path, default=HERE / "reports")
    parser.add_argument("--no-fail", action="store_true", help="exit 0 even below the thresholds")
    args = parser.parse_args(argv)
    if args.limit is not None and args.limit < 1:
        parser.error("--limit must be at least 1")
    if not args.data.is_file():
        print(f"xquad: no data at {args.data} (use --data)", file=sys.stderr)
        return 2

    articles = load_xquad(args.data)
    questions = select_questions(articles, args.limit)
    overrides = parse_overrides(args.config if ":" in args.config else f":{args.config}")[1]
    bounds = tomllib.loads(args.thresholds.read_text(encoding="utf-8")).get("xquad", {}).get("min", {})

    settings, answerer = open_system(overrides, args.store, articles)
    rows = ask_all(answerer, questions, settings.top_k)
    summary = summarize(rows)
    failures = check_thresholds(thresholded(summary), {"min": bounds})
    run = {
        "data": str(args.data),
        "config": overrides,
        "limit": args.limit,
        "split": {role: [a["doc_id"] for a in articles if a["role"] == role] for role in ROLES},
        "thresholds": bounds,
        "threshold_failures": failures,
        "summary": summary,
        "rows": rows,
    }
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    print_summary(summary, bounds, articles, overrides)
    paths = write_reports(run, articles, args.out, stamp)
    print("\nreports: " + ", ".join(str(p) for p in paths))
    for problem in failures:
        split = "left_out" if problem.startswith("left_out") else "all answerable"
        print(f"below threshold [xquad, {split}]: {problem}", file=sys.stderr)
    return 1 if failures and not args.no_fail else 0


if __name__ == "__main__":
    sys.exit(main())
