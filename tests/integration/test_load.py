"""Issue 8, load: a real `rag serve` (Gemma, MiniLM, Chroma) on loopback under bursts, sustained load,
disconnecting clients and deadlines. Each test prints the figures it measured (`pytest -s` shows them).

L1 runs RAG_SOAK_SECONDS (20 s in `make test`, 120 s in `make soak`).
"""

from __future__ import annotations

import json
import math
import os
import socket
import threading
import time
from itertools import cycle, islice

import httpx
import pytest

from eval.metrics import percentile
from rag.answer import ABSTAIN_ANSWER
from rag.errors import Cancelled
from tests.conftest import ARTICLES, ROOT
from tests.integration.serving import burst, serving

pytestmark = pytest.mark.integration

SOAK_SECONDS = float(os.environ.get("RAG_SOAK_SECONDS", "20"))
MAX_WAITING = 8  # the default queue: 9 questions in flight at most
GOLD = [json.loads(line) for line in (ROOT / "eval" / "gold.jsonl").read_text(encoding="utf-8").splitlines()]
# German questions the model answers (the unanswerable ones mostly abstain before the model)
ASKED = [item["question"] for item in GOLD if item["answerable"] and item["type"] != "english"][:12]
# under the "heavy" settings below: many candidates, so the model works for seconds on a wide question
HEAVY_QUESTION, HEAVY_TOP_K = "Wo trafen sich Blinken und Lawrow 2022?", 20
LIGHT_QUESTION, LIGHT_TOP_K = "Wo trafen sich Blinken und Lawrow im Dezember 2021?", 1
HEAVY = {"RAG_MODEL_CANDIDATES": "50", "RAG_ANSWER_SENTENCES": "20", "RAG_PROMPT_SENTENCES": "10",
         "RAG_RERANK_DEPTH": "30", "RAG_MAX_WAITING": "2"}  # fmt: skip
FREED_WITHIN = 1.0  # L3: seconds from a client's disconnect until the model is free


def figures(case: str, **values) -> None:
    print(f"\n[{case}] " + ", ".join(f"{k}={v:.3f}" if isinstance(v, float) else f"{k}={v}" for k, v in values.items()))


@pytest.fixture(scope="module")
def default_server(real_settings, real_store, tmp_path_factory):
    """Default settings; a long deadline so that queued questions are served, not timed out, on a busy machine."""
    folder = tmp_path_factory.mktemp("load-default")
    settings = {"RAG_MAX_WAITING": str(MAX_WAITING), "RAG_REQUEST_TIMEOUT_S": "600"}
    with serving(real_settings.store_dir, folder, **settings) as server:
        yield server


@pytest.fixture(scope="module")
def heavy_server(real_settings, real_store, tmp_path_factory):
    folder = tmp_path_factory.mktemp("load-heavy")
    with serving(real_settings.store_dir, folder, RAG_REQUEST_TIMEOUT_S="600", **HEAVY) as server:
        yield server


@pytest.fixture(scope="module")
def heavy_timings(heavy_server) -> dict[str, float]:
    """Seconds for the heavy and the light question on the heavy settings (after one warm-up question)."""
    assert heavy_server.ask(LIGHT_QUESTION, top_k=LIGHT_TOP_K).status_code == 200
    timings = {}
    for name, question, top_k in (("heavy", HEAVY_QUESTION, HEAVY_TOP_K), ("light", LIGHT_QUESTION, LIGHT_TOP_K)):
        started = time.perf_counter()
        response = heavy_server.ask(question, top_k=top_k)
        assert response.status_code == 200 and not response.json()["abstained"], response.text
        timings[name] = time.perf_counter() - started
    return timings


def freed_within(remaining: float) -> float:
    """L3/L4's bound on the time from a withdrawal to a free model: 1 s, as on this machine when it is otherwise
    idle. The model cannot stop inside its prompt evaluation, and a machine slowed by other work slows that step
    too: then the bound is half the time the answer still had to run, which shows all the same that the model
    stopped at its next step instead of finishing the answer."""
    return max(FREED_WITHIN, 0.5 * remaining)


def test_l2_a_burst_beyond_the_queue_is_refused_at_once(default_server):
    capacity = MAX_WAITING + 1
    bodies = [{"question": q} for q in islice(cycle(ASKED), 10 * capacity)]
    replies = burst(default_server.port, "/v1/ask", bodies)

    assert all(r is not None for r in replies), "a connection got no reply"
    statuses = [r.status for r in replies]
    assert set(statuses) <= {200, 503}, statuses
    served = [r for r in replies if r.status == 200]
    refused = [r for r in replies if r.status == 503]
    served_s, refused_s = [r.seconds for r in served], [r.seconds for r in refused]
    figures(
        "L2", sent=len(replies), served=len(served), refused=len(refused),
        served_p50=percentile(served_s, 0.5), served_p95=percentile(served_s, 0.95),
        refused_p50=percentile(refused_s, 0.5), refused_p95=percentile(refused_s, 0.95), refused_max=max(refused_s),
    )  # fmt: skip
    assert len(served) >= capacity and len(refused) >= len(replies) - 2 * capacity
    for reply in refused:
        assert reply.headers.get("retry-after") == "1"
        assert "too many" in reply.json()["error"]
        assert reply.seconds < 0.1, f"refused after {reply.seconds:.3f} s"
    for reply in served:
        body = reply.json()
        assert body["answer"] and (body["abstained"] or body["citations"])
    assert default_server.wait_for_model(busy=False, seconds=30) < 30
    assert httpx.get(f"{default_server.url}/ready", timeout=5).status_code == 200


@pytest.mark.slow
def test_l1_sustained_load_at_measured_capacity(default_server):
    """The service answers one question at a time (one model), so it runs at its capacity when a client asks
    again as soon as it is answered: the model never idles, for RAG_SOAK_SECONDS; the capacity reported is the
    answers per second that gives. Against single questions asked on an idle server, the latency must not drift,
    no error appear and the memory not grow."""
    for question in ASKED:  # warm: caches, the tagger, the model's first calls
        assert default_server.ask(question).status_code == 200
    single = []
    for question in ASKED:
        time.sleep(0.2)  # alone: nothing else in flight
        started = time.perf_counter()
        assert default_server.ask(question).status_code == 200
        single.append(time.perf_counter() - started)
    rss_before = default_server.rss_bytes()

    statuses, latencies, started = [], [], time.monotonic()
    with httpx.Client(base_url=default_server.url, timeout=120) as client:
        for question in cycle(ASKED):
            if time.monotonic() - started >= SOAK_SECONDS:
                break
            asked = time.perf_counter()
            statuses.append(client.post("/v1/ask", json={"question": question}).status_code)
            latencies.append(time.perf_counter() - asked)
    elapsed = time.monotonic() - started
    rss_after = default_server.rss_bytes()

    figures(
        "L1", seconds=elapsed, capacity_per_s=len(statuses) / elapsed, sent=len(statuses),
        served=statuses.count(200), server_errors=sum(s >= 500 for s in statuses),
        single_p50=percentile(single, 0.5), single_p95=percentile(single, 0.95),
        load_p50=percentile(latencies, 0.5), load_p95=percentile(latencies, 0.95),
        rss_before_mb=rss_before / 2**20, rss_after_mb=rss_after / 2**20,
    )  # fmt: skip
    assert not [s for s in statuses if s >= 500]
    assert statuses.count(200) == len(statuses)
    assert percentile(latencies, 0.95) <= 1.5 * percentile(single, 0.95)
    assert rss_after < 1.10 * rss_before


def test_l3_a_client_that_leaves_frees_the_model_within_a_second(heavy_server, heavy_timings):
    assert heavy_timings["heavy"] > 1.5 * FREED_WITHIN, "the heavy question is too quick to show anything"
    trials = []  # (kind, seconds from the disconnect to a free model, seconds the answer still had to run)
    body = {"question": HEAVY_QUESTION, "top_k": HEAVY_TOP_K}
    for _ in range(2):
        asked = time.monotonic()
        with httpx.stream("POST", f"{heavy_server.url}/v1/ask", timeout=60, json=body | {"stream": True}) as response:
            lines = response.iter_lines()
            assert next(lines) == "event: passages"
            heavy_server.wait_for_model(busy=True)
            time.sleep(0.2)  # mid-answer: the model is at work
            left = time.monotonic()
        remaining = heavy_timings["heavy"] - (left - asked)
        trials.append(("sse", heavy_server.wait_for_model(busy=False, seconds=60), remaining))

        asked = time.monotonic()
        with socket.create_connection(("127.0.0.1", heavy_server.port), timeout=10) as sock:
            data = json.dumps(body).encode()
            sock.sendall(
                b"POST /v1/ask HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                + f"Content-Length: {len(data)}\r\n\r\n".encode() + data
            )
            heavy_server.wait_for_model(busy=True)
            time.sleep(0.2)
            left = time.monotonic()
        remaining = heavy_timings["heavy"] - (left - asked)
        trials.append(("plain", heavy_server.wait_for_model(busy=False, seconds=60), remaining))
    figures(
        "L3", heavy_answer_s=heavy_timings["heavy"],
        sse_freed_max_s=max(f for k, f, _ in trials if k == "sse"),
        plain_freed_max_s=max(f for k, f, _ in trials if k == "plain"),
        answer_still_had_min_s=min(r for _, _, r in trials),
    )  # fmt: skip
    for kind, freed, remaining in trials:
        assert freed < freed_within(remaining), (kind, freed, remaining)
    response = heavy_server.ask(LIGHT_QUESTION, top_k=LIGHT_TOP_K)  # and the next question is served
    assert response.status_code == 200 and response.json()["answer"] != ABSTAIN_ANSWER


def test_l3_a_withdrawn_question_stops_the_prompt_evaluation_at_its_next_step(real_answerer):
    """A long prompt is evaluated in steps; the model checks for a withdrawn question between them instead of
    finishing the prompt first."""
    generator = real_answerer.generator
    prompt = " ".join(article.read_text(encoding="utf-8") for article in sorted(ARTICLES.glob("*.txt")))[:5000]
    continuations = [" Genf", " in Neu-Delhi"]
    expected = generator.logprobs(prompt, continuations)
    decode, steps, cancel = generator._decode, [], threading.Event()

    def decode_then_withdraw(tokens, n_past, logits_all):
        steps.append(len(tokens))
        decode(tokens, n_past, logits_all)
        cancel.set()  # the client leaves after the first step

    generator._decode = decode_then_withdraw
    try:
        with pytest.raises(Cancelled):
            generator.logprobs(prompt, continuations, cancel)
    finally:
        del generator._decode
    assert steps == [generator.PROMPT_STEP_TOKENS]
    served_on = generator.logprobs(prompt, continuations)  # and the next evaluation is whole
    assert [pytest.approx(row, abs=1e-3) for row in expected] == served_on


def test_l5_search_and_documents_answer_while_the_model_is_busy(heavy_server, heavy_timings):
    url = heavy_server.url
    capacity = int(HEAVY["RAG_MAX_WAITING"]) + 1
    busy = [
        threading.Thread(target=heavy_server.ask, args=(HEAVY_QUESTION,), kwargs={"top_k": HEAVY_TOP_K}, daemon=True)
        for _ in range(capacity)
    ]
    for thread in busy:
        thread.start()
    heavy_server.wait_for_model(busy=True)
    deadline = time.monotonic() + 30
    while heavy_server.health()["questions_in_flight"] < capacity and time.monotonic() < deadline:
        time.sleep(0.02)
    assert heavy_server.health()["questions_in_flight"] == capacity, "the queue did not fill"
    assert heavy_server.ask(LIGHT_QUESTION, top_k=LIGHT_TOP_K).status_code == 503  # the queue is full

    article = " date 2024-05\nDie Stadtbibliothek Wiesental öffnet am Montag einen Lesesaal für Kinder."
    calls = {
        "search": lambda: httpx.post(f"{url}/v1/search", json={"query": "Blinken Lawrow Genf"}, timeout=60),
        "list": lambda: httpx.get(f"{url}/v1/documents", timeout=60),
        "read": lambda: httpx.get(f"{url}/v1/documents/002_606d4c18b25b7e8e", timeout=60),
        "add": lambda: httpx.post(
            f"{url}/v1/documents?doc_id=l5_bibliothek", content=article.encode(),
            headers={"content-type": "text/plain"}, timeout=60,
        ),  # fmt: skip
        "delete": lambda: httpx.delete(f"{url}/v1/documents/l5_bibliothek", timeout=60),
    }
    seconds = {}
    for name, call in calls.items():
        started = time.perf_counter()
        response = call()
        seconds[name] = time.perf_counter() - started
        assert response.status_code in (200, 201, 204), (name, response.status_code, response.text)
    still_busy = heavy_server.health()
    figures("L5", heavy_answer_s=heavy_timings["heavy"], **{f"{k}_s": v for k, v in seconds.items()})
    # none of them waited for the model: the questions that filled the queue are still there
    assert still_busy["questions_in_flight"] >= 1
    assert sum(seconds.values()) < heavy_timings["heavy"]
    for thread in busy:
        thread.join(capacity * heavy_timings["heavy"] * 3 + 60)
    heavy_server.wait_for_model(busy=False, seconds=60)


def test_l4_a_question_past_its_deadline_gets_504_and_the_next_is_served(
    real_settings, real_store, heavy_timings, tmp_path_factory
):
    ratio = heavy_timings["heavy"] / heavy_timings["light"]
    if ratio < 2.5:
        pytest.skip(f"the heavy question takes only {ratio:.1f}x the light one here: no deadline between them")
    deadline = math.sqrt(heavy_timings["heavy"] * heavy_timings["light"])  # well past the light, short of the heavy
    folder = tmp_path_factory.mktemp("load-deadline")
    with serving(real_settings.store_dir, folder, RAG_REQUEST_TIMEOUT_S=f"{deadline:.2f}", **HEAVY) as server:
        started = time.perf_counter()
        timed_out = server.ask(HEAVY_QUESTION, top_k=HEAVY_TOP_K)
        answered_in = time.perf_counter() - started
        freed_in = server.wait_for_model(busy=False, seconds=30)
        started = time.perf_counter()
        served = server.ask(LIGHT_QUESTION, top_k=LIGHT_TOP_K)
        next_in = time.perf_counter() - started
        figures("L4", deadline_s=deadline, answered_504_in_s=answered_in, model_freed_after_s=freed_in,
                next_answer_s=next_in)  # fmt: skip
        assert timed_out.status_code == 504, timed_out.text
        assert timed_out.headers["content-type"] == "application/json"
        assert "longer than" in timed_out.json()["error"] and "Traceback" not in timed_out.text
        assert answered_in < deadline + 1.0  # the deadline is kept, not only noticed afterwards
        assert freed_in < freed_within(heavy_timings["heavy"] - deadline)
        assert served.status_code == 200 and served.json()["answer"] != ABSTAIN_ANSWER
        assert server.stop() == 0
        assert "Traceback" not in server.log()
