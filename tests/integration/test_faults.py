"""Issue 8, faults: a crash mid-ingest, a second writer, a failing or hanging model, a bad store folder, SIGTERM
with requests in flight, and documents written while questions are answered. Real processes on loopback, except
F3, which fakes the model in the in-process app.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from rag.answer import Answerer
from rag.errors import Cancelled
from rag.ingest import chunk_article, read_article
from rag.retrieve import Retriever
from rag.settings import Settings
from rag.store import LexicalIndex, Store, _stamp
from rag.text import sentence_spans
from service.app import create_app
from tests.conftest import ARTICLES, ROOT, FakeEmbedder, FakeGenerator
from tests.integration.serving import Server, copy_store
from tests.test_service import QUESTION, make_runtime

pytestmark = pytest.mark.integration

XQUAD = ROOT.parent / "shared" / "xquad-dev" / "xquad.de.dev.json"
F1_ARTICLES = 220


def figures(case: str, **values) -> None:
    print(f"\n[{case}] " + ", ".join(f"{k}={v:.3f}" if isinstance(v, float) else f"{k}={v}" for k, v in values.items()))


def cli(*args: str, env: dict, seconds: float = 300, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "rag.cli", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=seconds,
        **kwargs,
    )  # fmt: skip


def folder_digest(folder: Path) -> dict[str, str]:
    """Every file below `folder` by its content hash: what a refused writer or a failed start must leave alone."""
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and p.name != "writer.lock"
    }


@pytest.fixture
def store_copy(real_settings, real_store, tmp_path) -> Path:
    return copy_store(real_settings.store_dir, tmp_path / "var")


# -- F1: kill -9 mid-ingest --------------------------------------------------------------------------------------


def write_articles(folder: Path, count: int) -> None:
    """`count` articles of real German sentences (XQuAD's German paragraphs, else the seed articles), each
    sentence used once and each article opened by a numbered line, so that no two chunks are alike."""
    if XQUAD.is_file():
        data = json.loads(XQUAD.read_text(encoding="utf-8"))["data"]
        texts = [p["context"] for article in data for p in article["paragraphs"]]
    else:
        texts = [read_article(path).text for path in sorted(ARTICLES.glob("*.txt"))]
    sentences = [text[s.start : s.end] for text in texts for s in sentence_spans(text)]
    per_article = max(1, min(4, len(sentences) // count))
    folder.mkdir(parents=True)
    for n in range(count):
        body = " ".join(sentences[(n * per_article + k) % len(sentences)] for k in range(per_article))
        header = f" date 20{10 + n % 15:02d}-{1 + n % 12:02d}\n" if n % 3 else ""
        (folder / f"f1_{n:03d}.txt").write_text(f"{header}Meldung {n} aus dem Archiv.\n\n{body}\n", encoding="utf-8")


def ingest_and_kill(args: list[str], env: dict, database: Path, at_least: int, seconds: float = 300) -> int:
    """Run `rag ingest` and kill -9 it once Chroma's database holds `at_least` document records (read-only
    looks, a few a second). Returns the count it had seen."""
    process = subprocess.Popen(
        [sys.executable, "-m", "rag.cli", *args], cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    seen, deadline = 0, time.monotonic() + seconds
    try:
        while time.monotonic() < deadline and process.poll() is None:
            time.sleep(0.2)
            if not database.is_file():
                continue
            try:
                with sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=1) as connection:
                    seen = connection.execute(
                        "SELECT count(*) FROM embeddings e JOIN segments s ON e.segment_id = s.id "
                        "JOIN collections c ON s.collection = c.id WHERE c.name = 'documents'"
                    ).fetchone()[0]
            except sqlite3.Error:
                continue  # not created yet, or busy: look again
            if seen >= at_least:
                process.send_signal(signal.SIGKILL)
                break
    finally:
        process.kill()
        process.wait(30)
    return seen


def stored_counts(store_dir: Path, scratch: Path) -> tuple[int, int]:
    """(documents, chunks) as Chroma reads them, from a copy: the store itself stays as the crash left it."""
    import chromadb

    shutil.copytree(store_dir, scratch)
    settings = chromadb.Settings(anonymized_telemetry=False)
    client = chromadb.PersistentClient(path=str(scratch / "chroma"), settings=settings)
    return (
        client.get_collection("documents", embedding_function=None).count(),
        client.get_collection("chunks", embedding_function=None).count(),
    )


@pytest.mark.slow
def test_f1_kill_9_mid_ingest_then_ingest_again_leaves_an_exact_store(tmp_path):
    articles = tmp_path / "articles"
    write_articles(articles, F1_ARTICLES)
    settings = Settings(store_dir=tmp_path / "var")
    expected = {
        c.id: c
        for path in sorted(articles.glob("*.txt"))
        for c in chunk_article(read_article(path), settings.chunk_chars, settings.chunk_overlap_sentences)
    }
    env = {**os.environ, "RAG_STORE_DIR": str(settings.store_dir), "HF_HUB_OFFLINE": "1"}

    database = settings.store_dir / "chroma" / "chroma.sqlite3"
    reported = ingest_and_kill(["ingest", str(articles)], env, database, at_least=F1_ARTICLES // 3)
    assert F1_ARTICLES // 3 <= reported < F1_ARTICLES, f"killed when {reported} documents were written"
    documents_at_kill, chunks_at_kill = stored_counts(settings.store_dir, tmp_path / "scratch")

    again = cli("ingest", str(articles), env=env)
    assert again.returncode == 0, again.stderr[-2000:]
    store = Store(settings.store_dir, FakeEmbedder(), create=False)
    got = store._chunks.get(include=["embeddings", "metadatas"])
    documents = store.documents()
    figures(
        "F1", articles=F1_ARTICLES, expected_chunks=len(expected), documents_seen_at_kill=reported,
        documents_at_kill=documents_at_kill, chunks_at_kill=chunks_at_kill,
        documents_after=len(documents), chunks_after=len(got["ids"]), second_ingest=again.stdout.strip(),
    )  # fmt: skip

    # exact: every article once, every chunk once, nothing stale or doubled
    assert sorted(d.doc_id for d in documents) == sorted(p.stem for p in articles.glob("*.txt"))
    assert sorted(got["ids"]) == sorted(expected) and len(got["ids"]) == len(set(got["ids"]))
    places = [(m["doc_id"], m["start"], m["end"]) for m in got["metadatas"]]
    assert len(places) == len(set(places))
    by_doc: dict[str, int] = {}
    for metadata in got["metadatas"]:
        by_doc[metadata["doc_id"]] = by_doc.get(metadata["doc_id"], 0) + 1
    assert all(d.chunk_count == by_doc.get(d.doc_id, 0) for d in documents)
    # the vector index holds every chunk: each is its own nearest neighbour
    for chunk_id, embedding in zip(got["ids"], got["embeddings"], strict=True):
        nearest = store._chunks.query(query_embeddings=[list(embedding)], n_results=1, include=["distances"])
        assert nearest["ids"][0] == [chunk_id] and nearest["distances"][0][0] < 1e-4, chunk_id
    # the persisted BM25 index is the one for these chunks
    assert LexicalIndex.load(settings.store_dir / "lexical", _stamp(got["ids"])) is not None


# -- F2: a second writer -----------------------------------------------------------------------------------------


def test_f2_a_second_writer_is_refused_and_the_answers_stay_the_same(store_copy, tmp_path):
    server = Server(store_copy, tmp_path / "serve.log").start()
    try:
        server.wait_until(ready=True)
        before = server.ask(QUESTION).json()
        files = folder_digest(store_copy / "chroma")

        ingest = cli("ingest", str(ARTICLES), env=server.env, seconds=120)
        second = Server(store_copy, tmp_path / "second.log").start()
        code = second.process.wait(120)

        after = server.ask(QUESTION).json()
        assert ingest.returncode != 0 and "in use by a writer" in ingest.stderr, ingest.stderr[-2000:]
        assert code != 0 and "in use by a writer" in second.log(), second.log()[-2000:]
        for output in (ingest.stderr, second.log()):
            assert "Traceback" not in output
        assert folder_digest(store_copy / "chroma") == files  # the refused writers touched nothing
        assert {k: after[k] for k in ("answer", "citations")} == {k: before[k] for k in ("answer", "citations")}
        assert "Genf" in after["answer"]
    finally:
        assert server.stop() == 0


# -- F3: the model raises, hangs or passes its deadline (in-process, a fake model) ------------------------------


class FaultyGenerator(FakeGenerator):
    """A fake model that fails in the way `mode` says for its next call, then works again."""

    def __init__(self) -> None:
        super().__init__(preferred=["Genf", "Bern"])
        self.mode: str | None = None
        self.entered = threading.Event()

    def logprobs(self, prompt, continuations, cancel=None):
        mode, self.mode = self.mode, None
        self.entered.set()
        if mode == "raise":
            raise RuntimeError("CUDA error: an illegal memory access /secret/path/model.gguf")
        if mode == "hang":  # hangs until the question is withdrawn, as llama.cpp does between candidates
            cancel.wait(30)
            raise Cancelled("withdrawn")
        if mode == "stuck":  # ignores the withdrawal for a while
            time.sleep(2.0)
        if mode == "slow":  # each candidate takes long; the deadline passes between two of them
            for _ in continuations:
                time.sleep(0.3)
                if cancel is not None and cancel.is_set():
                    raise Cancelled("withdrawn")
        return super().logprobs(prompt, continuations, cancel)


@pytest.fixture
def faulty(tmp_path, articles_dir):
    generator = FaultyGenerator()
    runtime = make_runtime(
        tmp_path, articles_dir, request_timeout_s=0.8,
        build=lambda s, store: Answerer(store, Retriever(store, store.embedder), generator, s),
    )  # fmt: skip
    with TestClient(create_app(runtime.settings, runtime), raise_server_exceptions=False) as client:
        runtime.wait_until_loaded()
        assert client.post("/v1/ask", json={"question": QUESTION}).status_code == 200  # warm
        yield client, generator, runtime


@pytest.mark.parametrize(
    ("mode", "status", "message"),
    [("raise", 503, "the model failed"), ("hang", 504, "longer than"), ("stuck", 504, "longer than"),
     ("slow", 504, "longer than")],
)  # fmt: skip
@pytest.mark.parametrize("route", ["/v1/ask", "/v1/chat/completions"])
def test_f3_a_failing_model_is_a_clean_503_or_504_and_the_next_question_is_served(faulty, mode, status, message, route):
    client, generator, runtime = faulty
    body = {"question": QUESTION} if route == "/v1/ask" else {"messages": [{"role": "user", "content": QUESTION}]}
    generator.mode = mode
    started = time.perf_counter()
    response = client.post(route, json=body)
    seconds = time.perf_counter() - started

    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    assert message in response.json()["error"]
    for leak in ("Traceback", "RuntimeError", "/secret/path", "CUDA"):
        assert leak not in response.text
    if status == 504:
        assert seconds < runtime.settings.request_timeout_s + 0.5  # the deadline holds even while the model hangs
    assert client.get("/health").status_code == 200  # up, while a stuck model may still hold its turn
    deadline = time.monotonic() + 5
    while client.get("/health").json()["questions_in_flight"] and time.monotonic() < deadline:
        time.sleep(0.05)
    served = client.post(route, json=body)
    assert served.status_code == 200, served.text
    assert "Genf" in (served.json().get("answer") or served.json()["choices"][0]["message"]["content"])


def test_f3_a_model_failure_mid_stream_is_an_error_event(faulty):
    client, generator, _ = faulty
    for mode, status in (("raise", 503), ("hang", 504)):
        generator.mode = mode
        response = client.post("/v1/ask", json={"question": QUESTION, "stream": True})
        events = re.findall(r"event: (\w+)\ndata: (.*)\n", response.text)
        assert [name for name, _ in events] == ["passages", "error"]
        assert json.loads(events[-1][1])["status"] == status and "Traceback" not in response.text
    assert client.post("/v1/ask", json={"question": QUESTION}).status_code == 200


# -- F4: a missing, read-only or corrupt store at start ---------------------------------------------------------


def read_only(store: Path) -> list[str]:
    """A wrapper command that runs the server with `store` mounted read-only in its own mount namespace (root
    may write to any file), or nothing for an ordinary user, for whom the folder is made read-only."""
    if os.geteuid() != 0:
        for path in [store, *store.rglob("*")]:
            path.chmod(path.stat().st_mode & ~0o222)
        return []
    probe = subprocess.run(["unshare", "-m", "true"], capture_output=True)
    if probe.returncode != 0:
        pytest.skip("no read-only store possible here: root without mount namespaces")
    script = 'mount --bind "$0" "$0" && mount -o remount,bind,ro "$0" && exec "$@"'
    return ["unshare", "-m", "sh", "-c", script, str(store)]


@pytest.mark.parametrize("damage", ["missing", "read-only", "corrupt"])
def test_f4_a_bad_store_at_start_is_not_ready_says_why_and_is_left_alone(store_copy, tmp_path, damage):
    wrapper: list[str] = []
    if damage == "missing":
        shutil.rmtree(store_copy)
    elif damage == "corrupt":
        database = store_copy / "chroma" / "chroma.sqlite3"
        database.write_bytes(b"\x00garbage, not SQLite\x00" * 200 + database.read_bytes()[4096:])
    else:
        wrapper = read_only(store_copy)
    files = folder_digest(store_copy) if store_copy.exists() else None

    server = Server(store_copy, tmp_path / "serve.log").start(wrapper)
    try:
        ready = server.wait_until(ready=False)
        deadline = time.monotonic() + 20  # the reason is known at once; give the process a moment to say it
        while "not serving" not in server.log() and time.monotonic() < deadline:
            time.sleep(0.2)
        ready = httpx.get(f"{server.url}/ready", timeout=5)
        health = httpx.get(f"{server.url}/health", timeout=5)
        asked = server.ask(QUESTION, timeout=30)
    finally:
        code = server.stop()
    reason = {"missing": "folder is missing", "read-only": "read-only", "corrupt": "cannot be opened"}[damage]
    assert ready.status_code == 503 and reason in ready.json()["detail"], ready.text
    assert str(store_copy) not in ready.text  # the path is for the log, not for clients
    assert health.status_code == 200
    assert asked.status_code == 503 and reason in asked.json()["error"]
    assert "not serving" in server.log() and reason in server.log() and str(store_copy) in server.log()
    assert code == 0
    if damage == "missing":
        assert not store_copy.exists()  # nothing made in its place
    else:
        assert folder_digest(store_copy) == files  # nothing wiped, nothing rewritten


# -- F5: SIGTERM with requests in flight ------------------------------------------------------------------------


def test_f5_sigterm_lets_requests_in_flight_finish_refuses_new_ones_and_exits_0(store_copy, tmp_path):
    grace = 60.0
    server = Server(store_copy, tmp_path / "serve.log", RAG_SHUTDOWN_GRACE_S=str(grace)).start()
    server.wait_until(ready=True)
    questions = ["Wo trafen sich Blinken und Lawrow 2022?", "Wo trafen sich Blinken und Lawrow 2023?",
                 "Wer ist der russische Außenminister?"]  # fmt: skip
    replies: dict[int, httpx.Response | Exception] = {}

    def ask(n: int) -> None:
        try:
            replies[n] = server.ask(questions[n], timeout=grace + 30)
        except Exception as exc:  # noqa: BLE001 - recorded, asserted below
            replies[n] = exc

    threads = [threading.Thread(target=ask, args=(n,)) for n in range(len(questions))]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 30
    while server.health()["questions_in_flight"] < len(questions) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert server.health()["questions_in_flight"] == len(questions)

    signalled = time.monotonic()
    server.process.send_signal(signal.SIGTERM)
    refused, late_served = False, 0
    while not refused and time.monotonic() - signalled < 10:
        try:  # one accepted in the ~0.1 s before the server closes its socket is in flight too: served
            late = httpx.post(f"{server.url}/v1/ask", json={"question": questions[0]}, timeout=grace + 30)
            assert late.status_code in (200, 503), late.text
            refused, late_served = late.status_code == 503, late_served + (late.status_code == 200)
        except httpx.TransportError:
            refused = True
        time.sleep(0.05)
    for thread in threads:
        thread.join(grace + 30)
    code = server.process.wait(grace + 30)
    figures("F5", exit_code=code, seconds_to_exit=time.monotonic() - signalled, late_requests_served=late_served)
    assert refused, "a new request was still served after SIGTERM"
    for n in range(len(questions)):
        assert isinstance(replies[n], httpx.Response) and replies[n].status_code == 200, replies[n]
        assert not replies[n].json()["abstained"]
    assert code == 0 and time.monotonic() - signalled < grace
    assert "Traceback" not in server.log()


# -- F6: documents through the API: a restart, and writes while questions are answered --------------------------

FERRY = " date 2024-06\nDie Fähre nach Helgoland legt in diesem Sommer jeden Morgen um neun Uhr in {port} ab."
FERRY_QUESTION = "Wo legt die Fähre nach Helgoland ab?"


def test_f6_api_documents_survive_a_restart_and_a_write_during_a_question_is_never_half_seen(store_copy, tmp_path):
    versions = {port: FERRY.format(port=port) for port in ("Cuxhaven", "Büsum")}
    server = Server(store_copy, tmp_path / "serve.log").start()
    try:
        server.wait_until(ready=True)
        added = httpx.post(
            f"{server.url}/v1/documents", json={"doc_id": "faehre", "text": versions["Cuxhaven"]}, timeout=120
        )
        assert added.status_code == 201 and added.json()["status"] == "added"
        assert "Cuxhaven" in server.ask(FERRY_QUESTION).json()["answer"]

        answers, errors = [], []

        def ask_while_writing() -> None:
            with httpx.Client(base_url=server.url, timeout=120) as client:
                for _ in range(12):
                    reply = client.post("/v1/ask", json={"question": FERRY_QUESTION})
                    (answers if reply.status_code == 200 else errors).append(reply)

        asker = threading.Thread(target=ask_while_writing)
        asker.start()
        writes, started = 0, time.monotonic()
        with httpx.Client(base_url=server.url, timeout=120) as client:
            # update, and now and then delete and re-add, for as long as questions run (bounded in count and time)
            while asker.is_alive() and writes < 400 and time.monotonic() - started < 240 or writes % 2:
                if writes % 4 == 3:
                    assert client.delete("/v1/documents/faehre").status_code == 204
                port = ("Büsum", "Cuxhaven")[writes % 2]
                written = client.post("/v1/documents", json={"doc_id": "faehre", "text": versions[port]})
                assert written.status_code == 201, written.text
                writes += 1
        asker.join(300)

        assert not errors, [(e.status_code, e.text) for e in errors]
        texts = {port: read_text(text) for port, text in versions.items()}
        for reply in answers:
            body = reply.json()
            assert body["reason"] != "no citation could be verified", body  # the write did not break the answer
            for citation in body["citations"]:
                if citation["doc_id"] != "faehre":
                    continue
                # the quote is a slice of one version, and the answer says that version's port
                version = next((p for p, t in texts.items() if t[citation["char_start"] : citation["char_end"]]
                                == citation["quote"] and p in citation["quote"]), None)  # fmt: skip
                assert version is not None, citation
                assert version in body["answer"], body
        figures("F6", writes=writes, questions=len(answers), citing_the_document=sum(
            any(c["doc_id"] == "faehre" for c in r.json()["citations"]) for r in answers))  # fmt: skip
        assert server.stop() == 0

        restarted = Server(store_copy, tmp_path / "restarted.log").start()
        server = restarted
        restarted.wait_until(ready=True)
        stored = httpx.get(f"{restarted.url}/v1/documents/faehre", timeout=30)
        assert stored.status_code == 200 and "Cuxhaven" in stored.json()["text"]  # the last write
        assert "Cuxhaven" in restarted.ask(FERRY_QUESTION).json()["answer"]
    finally:
        assert server.stop() == 0


def test_f6_a_question_reads_one_snapshot_while_documents_change(tmp_path):
    from rag.errors import DocumentNotFound
    from rag.ingest import parse_article

    store = Store(tmp_path / "var", FakeEmbedder())
    first = parse_article(FERRY.format(port="Cuxhaven"), doc_id="faehre")
    store.put(first)
    snapshot = store.snapshot()
    store.put(parse_article(FERRY.format(port="Büsum"), doc_id="faehre"))  # written while the question runs
    store.put(parse_article(" date 2024-06\nEin neuer Artikel über Sylt.", doc_id="neu"))
    with store.pinned(snapshot):
        assert store.document("faehre").text == first.text
        assert {c.doc_id for c in store.lexical().chunks} == {"faehre"} and "Cuxhaven" in store.lexical().chunks[0].text
        with pytest.raises(DocumentNotFound):
            store.document("neu")  # not there when the question started
    assert "Büsum" in store.document("faehre").text and store.document("neu")
    store.delete("faehre")
    with store.pinned(snapshot):
        assert store.document("faehre").text == first.text  # deleted since: still readable as retrieved
    with pytest.raises(DocumentNotFound):
        store.document("faehre")


def read_text(raw: str) -> str:
    from rag.ingest import parse_article

    return parse_article(raw, doc_id="faehre").text
