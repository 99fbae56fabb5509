"""`make bench-scale`: the service at 1k, 10k, 100k chunks of real German sentences, against a real `rag serve`.

python -m eval.bench_scale --chunks 1000 10000 [--questions 20] [--work var/bench-scale]

For each size it builds a deterministic corpus (the seed articles' and XQuAD's German sentences, recombined into
articles dated 2015-2025 with a fixed seed, and the same planted facts at every size: invented names, so a
question about one has exactly one answer), ingests it with `rag ingest`, then measures cold start to /ready,
/v1/search and /v1/ask latency with the planted answers' accuracy, adding, updating and deleting one article, peak
memory and disk size. It writes bench-scale-<stamp>.json and .md and a PNG of latency against size to
eval/reports/.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx

from eval.bench import free_port, memory_mb
from eval.metrics import percentile
from eval.run import HERE
from rag.ingest import chunk_article, parse_article, read_article
from rag.settings import Settings
from rag.text import sentence_spans

ROOT = HERE.parent
XQUAD = ROOT.parent / "shared" / "xquad-dev" / "xquad.de.dev.json"
SEED = 9
SYLLABLES = ["ka", "lo", "ver", "dan", "mi", "sel", "tor", "bu", "ren", "fal", "gin", "os", "tre", "mun", "wa", "zel"]
# planted facts: (sentence, question, answer) with {place}, {river}, {club}, {person}, {firm}, {city}, {year}
PLANTS = [
    ("Die Gemeinde {place} eröffnete eine neue Brücke über die {river}.",
     "Über welchen Fluss eröffnete die Gemeinde {place} {year} eine Brücke?", "{river}"),
    ("Der Verein {club} wählte {person} zur neuen Vorsitzenden.",
     "Wen wählte der Verein {club} {year} zur Vorsitzenden?", "{person}"),
    ("Das Unternehmen {firm} verlegte seinen Sitz nach {city}.",
     "Wohin verlegte das Unternehmen {firm} {year} seinen Sitz?", "{city}"),
]  # fmt: skip


@dataclass(frozen=True)
class Planted:
    doc_id: str
    question: str
    answer: str


def sentences() -> list[str]:
    """Real German sentences: the seed articles', then XQuAD's German paragraphs' (when ../shared has them)."""
    texts = [read_article(path).text for path in sorted((ROOT / "data" / "articles").glob("*.txt"))]
    if XQUAD.is_file():
        data = json.loads(XQUAD.read_text(encoding="utf-8"))["data"]
        texts += [p["context"] for article in data for p in article["paragraphs"]]
    return [text[s.start : s.end] for text in texts for s in sentence_spans(text) if s.end - s.start > 20]


def invented_name(rng: random.Random, parts: int = 3) -> str:
    return "".join(rng.choice(SYLLABLES) for _ in range(parts)).capitalize()


def corpus(chunks: int, questions: int, settings: Settings) -> tuple[dict[str, str], list[Planted]]:
    """Articles (doc id -> file text) holding about `chunks` chunks; the first `questions` hold a planted fact."""
    rng = random.Random(SEED)
    pool = sentences()
    articles: dict[str, str] = {}
    planted: list[Planted] = []
    total = 0
    while total < chunks:
        n = len(articles)
        year, month = rng.randint(2015, 2025), rng.randint(1, 12)
        body = [rng.choice(pool) for _ in range(rng.randint(3, 9))]
        if n < questions:
            sentence, question, answer = PLANTS[n % len(PLANTS)]
            names = {key: invented_name(rng) for key in ("place", "river", "club", "firm", "city")}
            names["person"] = f"{invented_name(rng, 2)} {invented_name(rng)}"
            names["year"] = str(year)
            body.insert(len(body) // 2, sentence.format(**names))
            planted.append(Planted(f"s{n:06d}", question.format(**names), answer.format(**names)))
        text = f" date {year}-{month:02d}\n" + " ".join(body) + "\n"
        articles[f"s{n:06d}"] = text
        article = parse_article(text, f"s{n:06d}")
        total += len(chunk_article(article, settings.chunk_chars, settings.chunk_overlap_sentences))
    return articles, planted


def run_logged(args: list[str], env: dict, log: Path) -> tuple[float, float]:
    """(wall seconds, peak RSS in MB) of a child process; its output goes to `log`."""
    started = time.perf_counter()
    with open(log, "w") as out:
        process = subprocess.Popen(args, env=env, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT)
        _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed ({process.returncode}); see {log}")
    return time.perf_counter() - started, usage.ru_maxrss / 1024


def disk_mb(folder: Path) -> float:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) / 2**20


def timed(call) -> tuple[float, httpx.Response]:
    t0 = time.perf_counter()
    response = call()
    return (time.perf_counter() - t0) * 1000, response


def measure(size: int, args: argparse.Namespace) -> dict:
    settings = Settings()
    work = args.work / str(size)
    articles, planted = corpus(size, args.questions, settings)
    folder = work / "articles"
    if not (work / "var").is_dir():  # a store made by an earlier run of the same corpus is reused
        folder.mkdir(parents=True, exist_ok=True)
        for doc_id, text in articles.items():
            (folder / f"{doc_id}.txt").write_text(text, encoding="utf-8")
    env = {**os.environ, "RAG_STORE_DIR": str(work / "var"), "HF_HUB_OFFLINE": "1"}
    result: dict = {"chunks_target": size, "articles": len(articles)}
    if not (work / "var").is_dir():
        seconds, rss = run_logged([sys.executable, "-m", "rag.cli", "ingest", str(folder)], env, work / "ingest.log")
        result |= {"ingest_s": round(seconds, 1), "ingest_peak_rss_mb": round(rss)}
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    started = time.perf_counter()
    server = subprocess.Popen(
        [sys.executable, "-m", "rag.cli", "serve"], env=env | {"RAG_PORT": str(port)}, cwd=ROOT,
        stdout=open(work / "serve.log", "w"), stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        while True:
            try:
                ready = httpx.get(f"{url}/ready", timeout=1)
                if ready.status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if server.poll() is not None or time.perf_counter() - started > 300:
                raise RuntimeError(f"the server did not become ready; see {work / 'serve.log'}")
            time.sleep(0.05)
        result["cold_start_s"] = round(time.perf_counter() - started, 2)
        client = httpx.Client(base_url=url, timeout=120)
        chunks = client.get("/ready").json().get("chunks")
        result["chunks"] = chunks
        if "ingest_s" in result and chunks:
            result["ingest_chunks_per_s"] = round(chunks / result["ingest_s"], 1)

        client.post("/v1/search", json={"query": "Wahl 2020"})  # warm-up: the first request loads what it needs
        client.post("/v1/ask", json={"question": "Wer gewann die Wahl 2020?"})
        search_ms, found = [], 0
        for _ in range(2):
            for p in planted:
                ms, response = timed(lambda p=p: client.post("/v1/search", json={"query": p.question, "top_k": 5}))
                search_ms.append(ms)
                found += any(x["doc_id"] == p.doc_id for x in response.json()["passages"])
        ask_ms, right = [], 0
        for p in planted:
            ms, response = timed(lambda p=p: client.post("/v1/ask", json={"question": p.question}))
            ask_ms.append(ms)
            answer = response.json()
            right += not answer["abstained"] and p.answer.casefold() in answer["answer"].casefold()
        result |= {
            "search_p50_ms": round(statistics.median(search_ms)),
            "search_p95_ms": round(percentile(search_ms, 0.95)),
            "search_recall_at_5": round(found / len(search_ms), 3),
            "ask_p50_ms": round(statistics.median(ask_ms)),
            "ask_p95_ms": round(percentile(ask_ms, 0.95)),
            "planted_accuracy": round(right / len(planted), 3),
            "questions": len(planted),
        }
        writes: dict[str, list[float]] = {"add": [], "update": [], "delete": []}
        rng = random.Random(SEED + 1)
        pool = sentences()
        for n in range(args.writes):
            doc_id, text = f"bench_write_{n}", " ".join(rng.choice(pool) for _ in range(6))
            for kind, call in (
                ("add", lambda: client.post("/v1/documents", json={"doc_id": doc_id, "date": "2024-05", "text": text})),
                ("update", lambda: client.post("/v1/documents", json={"doc_id": doc_id, "text": text + " Ende."})),
                ("delete", lambda: client.delete(f"/v1/documents/{doc_id}")),
            ):
                ms, response = timed(call)
                response.raise_for_status()
                writes[kind].append(ms)
        result |= {f"{kind}_one_ms": round(statistics.median(ms)) for kind, ms in writes.items()}
        result["serve_peak_rss_mb"] = round(memory_mb(server.pid, "VmHWM"))
    finally:
        server.terminate()
        server.wait(60)
    result["disk_mb"] = round(disk_mb(work / "var"))
    return result


COLUMNS = [
    ("chunks", "chunks"), ("ingest_chunks_per_s", "ingest chunks/s"), ("ingest_peak_rss_mb", "ingest peak RSS MB"),
    ("cold_start_s", "cold start s"), ("search_p50_ms", "search p50 ms"), ("search_p95_ms", "search p95 ms"),
    ("search_recall_at_5", "planted doc in search top 5"), ("ask_p50_ms", "ask p50 ms"), ("ask_p95_ms", "ask p95 ms"),
    ("planted_accuracy", "planted-answer accuracy"), ("add_one_ms", "add one ms"), ("update_one_ms", "update one ms"),
    ("delete_one_ms", "delete one ms"), ("serve_peak_rss_mb", "serve peak RSS MB"), ("disk_mb", "disk MB"),
]  # fmt: skip


def table(results: list[dict]) -> str:
    lines = ["| " + " | ".join(title for _, title in COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    lines += ["| " + " | ".join(str(r.get(key, "")) for key, _ in COLUMNS) + " |" for r in results]
    return "\n".join(lines) + "\n"


def plot(results: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sizes = [r["chunks"] for r in results]
    figure, axes = plt.subplots(figsize=(7, 4))
    lines = [("search_p50_ms", "search p50"), ("search_p95_ms", "search p95"), ("ask_p50_ms", "ask p50"),
             ("ask_p95_ms", "ask p95"), ("add_one_ms", "add one article")]  # fmt: skip
    for key, label in lines:
        axes.plot(sizes, [r[key] for r in results], marker="o", label=label)
    axes.set(xscale="log", yscale="log", xlabel="chunks in the store", ylabel="ms", title="latency by corpus size")
    axes.grid(True, which="both", alpha=0.3)
    axes.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=120)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--chunks", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--questions", type=int, default=20, help="planted facts, asked at every size")
    parser.add_argument("--writes", type=int, default=3, help="articles added, updated and deleted")
    parser.add_argument("--work", type=Path, default=ROOT / "var" / "bench-scale")
    parser.add_argument("--out", type=Path, default=HERE / "reports")
    args = parser.parse_args(argv)

    results = []
    for size in args.chunks:
        results.append(measure(size, args))
        print(json.dumps(results[-1]), flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    (args.out / f"bench-scale-{stamp}.json").write_text(json.dumps(results, indent=2), "utf-8")
    (args.out / f"bench-scale-{stamp}.md").write_text(table(results), "utf-8")
    if len(results) > 1:
        plot(results, args.out / f"bench-scale-{stamp}.png")
    print(table(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
