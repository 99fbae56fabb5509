"""`make bench`: cold start to ready, and warm /v1/ask latency, against a real `rag serve` on loopback.

python -m eval.bench [--rounds 2] [--remote]

With --remote the model runs in its own `rag serve-model` process and `rag serve` uses it (RAG_LLM_URL), as in the
client/server deployment; cold start then counts from the moment both are started.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx

from eval.metrics import percentile
from eval.run import HERE, load_gold


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def memory_mb(pid: int, field: str = "VmRSS") -> float:
    """A process's memory from /proc: "VmRSS" now, "VmHWM" its peak so far."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=2, help="passes over the gold questions")
    parser.add_argument("--remote", action="store_true", help="the model on its own server (rag serve-model)")
    parser.add_argument("--out", type=Path, default=HERE / "reports")
    args = parser.parse_args(argv)

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {**os.environ, "RAG_PORT": str(port), "HF_HUB_OFFLINE": "1"}
    started = time.perf_counter()
    servers = []
    if args.remote:
        model_port = free_port()
        env["RAG_LLM_URL"] = f"http://127.0.0.1:{model_port}"
        servers.append(_start(["serve-model", "--port", str(model_port)], env))
    server = _start(["serve"], env)
    servers.append(server)
    try:
        while True:
            try:
                if httpx.get(f"{url}/ready", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if any(p.poll() is not None for p in servers) or time.perf_counter() - started > 120:
                print("bench: the server did not become ready", file=sys.stderr)
                return 1
            time.sleep(0.05)
        cold_start = time.perf_counter() - started

        questions = [item["question"] for item in load_gold(HERE / "gold.jsonl")]
        client = httpx.Client(base_url=url, timeout=60)
        for question in questions[:3]:  # warm-up
            client.post("/v1/ask", json={"question": question})
        walls, stages = [], {"retrieve": [], "generate": [], "total": []}
        for _ in range(args.rounds):
            for question in questions:
                t0 = time.perf_counter()
                response = client.post("/v1/ask", json={"question": question})
                walls.append((time.perf_counter() - t0) * 1000)
                for stage, value in response.json()["timings_ms"].items():
                    stages[stage].append(value)
        rss = memory_mb(server.pid)
    finally:
        for process in servers:
            process.terminate()
            process.wait(20)

    result = {
        "mode": "remote model (rag serve-model)" if args.remote else "embedded model",
        "cold_start_to_ready_s": round(cold_start, 2),
        "requests": len(walls),
        "ask_p50_ms": round(statistics.median(walls)),
        "ask_p95_ms": round(percentile(walls, 0.95)),
        "ask_max_ms": round(max(walls)),
        "stages_p50_ms": {k: round(statistics.median(v)) for k, v in stages.items() if v},
        "server_rss_mb": round(rss),
        "cpus": os.cpu_count(),
    }
    print(json.dumps(result, indent=2))
    args.out.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    (args.out / f"bench-{stamp}.json").write_text(json.dumps(result, indent=2), "utf-8")
    return 0


def _start(command: list[str], env: dict) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "rag.cli", *command], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )


if __name__ == "__main__":
    sys.exit(main())
