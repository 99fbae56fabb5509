import threading

import pytest
from fastapi.testclient import TestClient

from rag.answer import ABSTAIN_ANSWER, Answer, Answerer
from rag.errors import StoreLocked
from rag.retrieve import Retriever
from rag.services import ingest_folder
from rag.settings import Settings
from rag.store import Store
from service.app import create_app
from service.runtime import Runtime
from tests.conftest import FakeEmbedder, FakeGenerator

QUESTION = "Wo trafen sich Blinken und Lawrow 2022?"


def make_runtime(tmp_path, articles_dir=None, build=None, **settings):
    settings = Settings(store_dir=tmp_path / "var", **settings)

    def open_store(s):
        store = Store(s.store_dir, FakeEmbedder())
        if articles_dir is not None:
            ingest_folder(store, articles_dir, s)
        return store

    def build_answerer(s, store):
        return Answerer(store, Retriever(store, store.embedder), FakeGenerator(preferred=["Genf", "Bern"]), s)

    return Runtime(settings, open_store=open_store, build_answerer=build or build_answerer)


@pytest.fixture
def client(tmp_path, articles_dir):
    runtime = make_runtime(tmp_path, articles_dir)
    with TestClient(create_app(runtime.settings, runtime)) as client:
        runtime.wait_until_loaded()
        yield client


def test_ask_follows_the_contract(client):
    response = client.post("/v1/ask", json={"question": QUESTION, "top_k": 5})
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"answer", "abstained", "citations", "timings_ms", "reason"}
    assert body["reason"] is None
    assert body["answer"].startswith("Genf [1]") and body["abstained"] is False
    citation = body["citations"][0]
    assert set(citation) == {"n", "doc_id", "source", "date", "quote", "char_start", "char_end"}
    assert citation["source"] == citation["doc_id"] + ".txt"
    assert set(body["timings_ms"]) == {"retrieve", "generate", "total"}


def test_abstention_has_no_citations(client):
    body = client.post("/v1/ask", json={"question": "Wo trafen sich Blinken und Lawrow 2024?"}).json()
    assert body["abstained"] is True and body["citations"] == []


@pytest.mark.parametrize(
    "payload, names",
    [
        ({"question": ""}, "question"),
        ({"question": "   \n\t "}, "question"),
        ({"question": "x" * 2001}, "question"),
        ({"question": QUESTION, "top_k": 0}, "top_k"),
        ({"question": QUESTION, "top_k": 21}, "top_k"),
        ({"question": QUESTION, "top_k": "fünf"}, "top_k"),
        ({"question": QUESTION, "colour": "blue"}, "colour"),
        ({"top_k": 3}, "question"),
        ({"question": 42}, "question"),
    ],
)
def test_bad_input_gets_a_422_naming_the_problem(client, payload, names):
    response = client.post("/v1/ask", json=payload)
    assert response.status_code == 422
    body = response.json()
    assert names in body["error"] and body["detail"]
    assert "Traceback" not in response.text


def test_malformed_json_is_a_422(client):
    response = client.post("/v1/ask", content=b"{not json", headers={"content-type": "application/json"})
    assert response.status_code == 422 and "error" in response.json()


def test_health_and_ready(client):
    assert client.get("/health").json() == {"status": "ok", "questions_in_flight": 0, "model_busy": False}
    ready = client.get("/ready")
    assert ready.status_code == 200 and ready.json()["ready"] is True and ready.json()["chunks"] > 0


def test_not_ready_until_the_model_is_loaded_and_the_index_is_filled(tmp_path):
    release = threading.Event()

    def slow_build(settings, store):
        release.wait(10)
        return Answerer(store, Retriever(store, store.embedder), FakeGenerator())

    runtime = make_runtime(tmp_path, articles_dir=None, build=slow_build)
    with TestClient(create_app(runtime.settings, runtime)) as client:
        assert client.get("/health").status_code == 200
        assert client.get("/ready").status_code == 503
        response = client.post("/v1/ask", json={"question": QUESTION})
        assert response.status_code == 503 and "loading" in response.json()["error"]
        release.set()
        runtime.wait_until_loaded()
        empty = client.get("/ready")
        assert empty.status_code == 503 and "empty" in empty.json()["detail"]


def test_a_full_queue_turns_questions_away_with_503(tmp_path, articles_dir):
    entered, release = threading.Event(), threading.Event()

    class SlowAnswerer:
        def retrieve(self, question, top_k):
            return question

        def answer_from(self, question, started=None, cancel=None):
            entered.set()
            release.wait(10)
            return Answer(question, ABSTAIN_ANSWER, True)

    runtime = make_runtime(tmp_path, articles_dir, build=lambda s, store: SlowAnswerer(), max_waiting=0)
    with TestClient(create_app(runtime.settings, runtime)) as client:
        runtime.wait_until_loaded()
        busy = threading.Thread(target=lambda: client.post("/v1/ask", json={"question": QUESTION}))
        busy.start()
        entered.wait(10)
        response = client.post("/v1/ask", json={"question": QUESTION})
        release.set()
        busy.join(10)
    assert response.status_code == 503 and response.headers["retry-after"] == "1"
    assert "too many" in response.json()["error"]


def test_the_service_holds_the_writer_lock(tmp_path, articles_dir):
    runtime = make_runtime(tmp_path, articles_dir)
    with TestClient(create_app(runtime.settings, runtime)):
        with pytest.raises(StoreLocked):
            with Store(tmp_path / "var", FakeEmbedder()).writer():
                pass
    with Store(tmp_path / "var", FakeEmbedder()).writer():
        pass  # released on shutdown


def test_openapi_documents_the_contract(client):
    spec = client.get("/openapi.json").json()
    ask = spec["paths"]["/v1/ask"]["post"]
    assert "422" in ask["responses"] and "200" in ask["responses"]
    assert spec["components"]["schemas"]["AskRequest"]["examples"][0]["question"] == QUESTION
