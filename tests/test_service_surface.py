import json
import threading
import time

import httpx
import pytest
import uvicorn
from fastapi.testclient import TestClient

from rag.answer import Answerer
from rag.retrieve import Retriever
from service.app import create_app
from tests.conftest import FakeGenerator, free_port
from tests.test_service import QUESTION, make_runtime

BERN = " date 2024-05 Blinken und Lawrow trafen sich am Montag in Bern. Das Gespräch dauerte drei Stunden."


@pytest.fixture
def client(tmp_path, articles_dir):
    runtime = make_runtime(tmp_path, articles_dir, max_document_bytes=10_000)  # the longest seed article: 8,008
    with TestClient(create_app(runtime.settings, runtime)) as client:
        runtime.wait_until_loaded()
        yield client


def test_documents_round_trip_through_the_single_writer(client):
    created = client.post("/v1/documents", json={"doc_id": "bern", "text": BERN})
    assert created.status_code == 201
    assert created.json() | {"chunks": 0} == {
        "doc_id": "bern", "source": "bern.txt", "date": "2024-05", "chunks": 0, "removed": {}, "status": "added",
    }  # fmt: skip
    assert client.post("/v1/documents", json={"doc_id": "bern", "text": BERN}).json()["status"] == "unchanged"
    changed = BERN.replace("drei", "vier")
    assert client.post("/v1/documents", json={"doc_id": "bern", "text": changed}).json()["status"] == "updated"

    listed = {d["doc_id"]: d for d in client.get("/v1/documents").json()["documents"]}
    assert "bern" in listed and "004_26328b77b207f0a4" in listed
    assert listed["004_26328b77b207f0a4"]["removed"]["reading tip"] == 3
    detail = client.get("/v1/documents/bern").json()
    assert detail["text"].startswith("Blinken und Lawrow trafen sich am Montag in Bern.") and "vier" in detail["text"]

    answer = client.post("/v1/ask", json={"question": "Wo trafen sich Blinken und Lawrow 2024?"}).json()
    assert answer["citations"] and answer["citations"][0]["doc_id"] == "bern"

    assert client.delete("/v1/documents/bern").status_code == 204
    assert client.get("/v1/documents/bern").status_code == 404
    assert client.delete("/v1/documents/bern").status_code == 404
    gone = client.post("/v1/ask", json={"question": "Wo trafen sich Blinken und Lawrow 2024?"}).json()
    assert gone["abstained"] is True


def test_a_raw_article_file_can_be_posted(client):
    response = client.post(
        "/v1/documents?doc_id=raw_1", content=BERN.encode(), headers={"content-type": "text/plain; charset=utf-8"}
    )
    assert response.status_code == 201 and response.json()["date"] == "2024-05"
    anonymous = client.post(
        "/v1/documents", content=b"Ein Artikel ohne Kopfzeile.", headers={"content-type": "text/plain"}
    )
    assert anonymous.status_code == 201 and anonymous.json()["doc_id"].startswith("doc_")


@pytest.mark.parametrize(
    "content, headers, status, message",
    [
        (b"\xff\xfe kein utf-8", {"content-type": "text/plain"}, 422, "UTF-8"),
        (b"   ", {"content-type": "text/plain"}, 422, "empty"),
        (b"x" * 10_001, {"content-type": "text/plain"}, 413, "limit"),
        (
            json.dumps({"text": "Hallo.", "doc_id": "../etc"}).encode(),
            {"content-type": "application/json"},
            422,
            "doc_id",
        ),
        (json.dumps({"text": "Hallo.", "date": "Mai"}).encode(), {"content-type": "application/json"}, 422, "date"),
        (b"{not json", {"content-type": "application/json"}, 422, "JSON"),
    ],
)
def test_bad_documents_are_refused_cleanly(client, content, headers, status, message):
    response = client.post("/v1/documents", content=content, headers=headers)
    assert response.status_code == status
    assert message in response.json()["error"]


def test_search_returns_passages_with_offsets_and_honours_dates(client):
    body = client.post("/v1/search", json={"query": "Blinken Lawrow Genf", "top_k": 3}).json()
    assert 0 < len(body["passages"]) <= 3
    passage = body["passages"][0]
    assert set(passage) == {"doc_id", "source", "date", "text", "char_start", "char_end", "score", "evidence"}
    document = client.get(f"/v1/documents/{passage['doc_id']}").json()["text"]
    assert document[passage["char_start"] : passage["char_end"]] == passage["text"]
    only_2023 = client.post(
        "/v1/search", json={"query": "Blinken Lawrow", "date_from": "2023-01", "date_to": "2023"}
    ).json()
    assert only_2023["passages"] and all(p["date"] == "2023-03" for p in only_2023["passages"])
    assert client.post("/v1/search", json={"query": "x", "date_from": "Januar"}).status_code == 422


def test_streamed_answer_sends_passages_then_answer_then_citations(client):
    with client.stream("POST", "/v1/ask", json={"question": QUESTION, "stream": True}) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        events = [
            (block.split("\n")[0].removeprefix("event: "), json.loads(block.split("\n")[1].removeprefix("data: ")))
            for block in response.read().decode().strip().split("\n\n")
        ]
    names = [name for name, _ in events]
    assert names[0] == "passages" and names[-2:] == ["citations", "done"]
    assert set(names[1:-2]) == {"answer"}
    answer = "".join(data["delta"] for name, data in events if name == "answer")
    assert answer.startswith("Genf [1]")
    assert events[-2][1][0]["quote"] and events[-1][1]["abstained"] is False


def test_openai_shaped_chat_completion(client):
    body = client.post(
        "/v1/chat/completions",
        json={"model": "nachrichten-qa", "temperature": 0.2, "messages": [
            {"role": "system", "content": "Antworte kurz."}, {"role": "user", "content": QUESTION}]},
    ).json()  # fmt: skip
    assert body["object"] == "chat.completion"
    assert body["choices"][0]["message"]["content"].startswith("Genf [1]")
    assert body["citations"][0]["quote"]
    assert client.get("/v1/models").json()["data"][0]["id"] == "nachrichten-qa"
    assert (
        client.post("/v1/chat/completions", json={"messages": [{"role": "system", "content": "x"}]}).status_code == 422
    )


def test_api_key_guards_every_v1_route(tmp_path, articles_dir):
    runtime = make_runtime(tmp_path, articles_dir, api_key="s3cret")
    with TestClient(create_app(runtime.settings, runtime)) as client:
        runtime.wait_until_loaded()
        assert client.get("/health").status_code == 200
        for method, path in [("POST", "/v1/ask"), ("GET", "/v1/documents"), ("GET", "/v1/models")]:
            response = client.request(method, path, json={"question": QUESTION} if method == "POST" else None)
            assert response.status_code == 401 and response.headers["www-authenticate"] == "Bearer"
        wrong = client.post("/v1/ask", json={"question": QUESTION}, headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 401
        right = client.post("/v1/ask", json={"question": QUESTION}, headers={"Authorization": "Bearer s3cret"})
        assert right.status_code == 200


class BlockingGenerator(FakeGenerator):
    """Holds the model until the question is withdrawn, and records that it was."""

    def __init__(self):
        super().__init__(preferred=["Genf"])
        self.started, self.withdrawn = threading.Event(), threading.Event()

    def logprobs(self, prompt, continuations, cancel=None):
        self.started.set()
        if cancel is not None and cancel.wait(10):
            self.withdrawn.set()
        return super().logprobs(prompt, continuations, cancel)


def test_a_client_that_disconnects_stops_the_generation(tmp_path, articles_dir):
    generator = BlockingGenerator()
    runtime = make_runtime(
        tmp_path, articles_dir, build=lambda s, store: Answerer(store, Retriever(store, store.embedder), generator, s)
    )
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(runtime.settings, runtime), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 30
        while not server.started and time.monotonic() < deadline:
            time.sleep(0.05)
        runtime.wait_until_loaded()
        with httpx.stream(
            "POST", f"http://127.0.0.1:{port}/v1/ask", json={"question": QUESTION, "stream": True}
        ) as response:
            lines = response.iter_lines()  # held: a dropped line iterator closes httpx's stream, and the connection
            assert next(lines) == "event: passages"
            assert generator.started.wait(5)
        # the connection is closed here, with the model still working
        assert generator.withdrawn.wait(5), "the generation went on after the client left"
    finally:
        server.should_exit = True
        thread.join(10)
