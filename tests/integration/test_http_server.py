"""`rag serve` as a real process on a free loopback port, over the ingested corpus."""

import os
import subprocess
import sys
import time

import httpx
import pytest

from tests.conftest import ARTICLES, ROOT, free_port

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def server(real_store, real_settings):
    port = free_port()
    env = {**os.environ, "RAG_STORE_DIR": str(real_settings.store_dir), "RAG_PORT": str(port), "HF_HUB_OFFLINE": "1"}
    process = subprocess.Popen(
        [sys.executable, "-m", "rag.cli", "serve"], cwd=ROOT, env=env,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{url}/ready", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert process.poll() is None, process.stdout.read()
            time.sleep(0.3)
        else:
            pytest.fail("server not ready in 120 s")
        yield url, env
    finally:
        process.terminate()
        process.wait(20)


def test_ask_over_http(server):
    url, _ = server
    response = httpx.post(f"{url}/v1/ask", json={"question": "Wo trafen sich Blinken und Lawrow 2022?"}, timeout=60)
    assert response.status_code == 200
    body = response.json()
    assert "Genf" in body["answer"] and body["abstained"] is False
    for citation in body["citations"]:
        from rag.ingest import read_article

        text = read_article(ARTICLES / citation["source"]).text
        assert text[citation["char_start"] : citation["char_end"]] == citation["quote"]


def test_bad_input_over_http_is_a_clean_422(server):
    url, _ = server
    response = httpx.post(f"{url}/v1/ask", json={"question": "  ", "top_k": 99}, timeout=10)
    assert response.status_code == 422
    assert response.json()["error"].startswith("invalid request")
    assert "Traceback" not in response.text


def test_a_second_writer_is_refused_while_the_service_runs(server):
    _, env = server
    result = subprocess.run(
        [sys.executable, "-m", "rag.cli", "ingest", str(ARTICLES)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode != 0
    assert "in use by a writer" in result.stderr and "Traceback" not in result.stderr


def test_the_official_openai_client_gets_a_cited_answer(server):
    from openai import OpenAI

    url, _ = server
    client = OpenAI(base_url=f"{url}/v1", api_key="not-needed", max_retries=0)
    assert [m.id for m in client.models.list().data] == ["nachrichten-qa"]
    reply = client.chat.completions.create(
        model="nachrichten-qa", messages=[{"role": "user", "content": "Wo trafen sich Blinken und Lawrow 2023?"}]
    )
    assert "Delhi" in reply.choices[0].message.content and "[1]" in reply.choices[0].message.content
    citations = reply.model_extra["citations"]
    assert citations and all(c["date"] == "2023-03" for c in citations)

    stream = client.chat.completions.create(
        model="nachrichten-qa", stream=True,
        messages=[{"role": "user", "content": "Wo trafen sich Blinken und Lawrow 2022?"}],
    )  # fmt: skip
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks)
    assert text.startswith("Genf [1]")
    assert chunks[-1].choices[0].finish_reason == "stop" and chunks[-1].model_extra["citations"]


def test_server_sent_events_over_http(server):
    url, _ = server
    events = []
    with httpx.stream(
        "POST",
        f"{url}/v1/ask",
        json={"question": "Wo trafen sich Blinken und Lawrow 2022?", "stream": True},
        timeout=60,
    ) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        for line in response.iter_lines():
            if line.startswith("event: "):
                events.append(line.removeprefix("event: "))
    assert events[0] == "passages" and "answer" in events and events[-2:] == ["citations", "done"]


def test_eval_runs_against_a_server_and_writes_its_reports(server, tmp_path):
    url, env = server
    result = subprocess.run(
        [sys.executable, "-m", "eval.run", "--url", url, "--ids", "q001,q002,q004", "--out", str(tmp_path)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    assert "answer_correct" in result.stdout and "1.000" in result.stdout
    assert {p.suffix for p in tmp_path.iterdir()} == {".json", ".md", ".png"}
