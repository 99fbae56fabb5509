import shutil
import subprocess
import sys
import threading
import time

import chromadb
import pytest

import rag.store
from rag.errors import DocumentNotFound, StoreLocked
from rag.ingest import parse_article, read_article
from rag.services import ingest_folder
from rag.settings import Settings
from rag.store import Store, WriteLock
from tests.conftest import ROOT


def ingest(store, folder):
    return ingest_folder(store, folder, Settings(store_dir=store.folder)).report


def test_reingesting_unchanged_articles_writes_nothing(store, articles_dir):
    first = ingest(store, articles_dir)
    assert len(first.added) == 5 and store.chunk_count() > 20
    chunks_before = store.chunk_count()
    second = ingest(store, articles_dir)
    assert second.added == second.updated == second.removed == []
    assert len(second.unchanged) == 5
    assert store.chunk_count() == chunks_before


def test_a_changed_article_replaces_its_chunks_and_a_removed_one_disappears(store, articles_dir):
    ingest(store, articles_dir)
    path = articles_dir / "002_606d4c18b25b7e8e.txt"
    path.write_text(path.read_text(encoding="utf-8").replace("Genf", "Lausanne"), encoding="utf-8")
    (articles_dir / "000_73fb6efb81153680.txt").unlink()
    report = ingest(store, articles_dir)
    assert report.updated == ["002_606d4c18b25b7e8e"] and report.removed == ["000_73fb6efb81153680"]
    chunks = store.lexical().chunks
    assert not any(c.doc_id == "000_73fb6efb81153680" for c in chunks)
    changed = [c for c in chunks if c.doc_id == "002_606d4c18b25b7e8e"]
    assert changed and all("Genf" not in c.text for c in changed)
    assert any("Lausanne" in c.text for c in changed)
    with pytest.raises(DocumentNotFound):
        store.document("000_73fb6efb81153680")


def test_an_unreadable_file_is_reported_and_its_stored_copy_kept(store, articles_dir):
    ingest(store, articles_dir)
    (articles_dir / "001_d122faae4436eaf2.txt").write_bytes(b"\xff\xfe not utf-8 \xff")
    result = ingest_folder(store, articles_dir, Settings(store_dir=store.folder))
    assert result.errors and "001_d122faae4436eaf2" in result.errors[0]
    assert store.document("001_d122faae4436eaf2").text.startswith("Der russische Außenminister")


def test_documents_keep_text_date_and_removed_boilerplate(store, articles_dir):
    ingest(store, articles_dir)
    document = store.document("004_26328b77b207f0a4")
    assert document.date is None and document.source == "004_26328b77b207f0a4.txt"
    assert document.text == read_article(articles_dir / "004_26328b77b207f0a4.txt").text
    assert {r.kind for r in document.removed} >= {"video playlist", "reading tip"}


def test_a_stale_lexical_index_is_rebuilt(tmp_path, fake_embedder, articles_dir):
    store = Store(tmp_path / "var", fake_embedder)
    ingest(store, articles_dir)
    shutil.rmtree(tmp_path / "var" / "lexical")
    reopened = Store(tmp_path / "var", fake_embedder)
    assert len(reopened.lexical().chunks) == store.chunk_count()
    reopened.put(parse_article(" date 2024-05 Ein neuer Artikel über Bern.", "new"))
    again = Store(tmp_path / "var", fake_embedder)
    assert any(c.doc_id == "new" for c in again.lexical().chunks)


def test_one_writer_at_a_time(tmp_path):
    first = WriteLock(tmp_path / "writer.lock")
    first.acquire()
    with pytest.raises(StoreLocked, match="in use by a writer"):
        WriteLock(tmp_path / "writer.lock").acquire()
    first.release()
    second = WriteLock(tmp_path / "writer.lock")
    second.acquire()
    second.release()


def test_cli_ingest_refuses_while_another_writer_holds_the_store(tmp_path):
    lock = WriteLock(tmp_path / "var" / "writer.lock")
    lock.acquire()
    try:
        result = subprocess.run(
            [sys.executable, "-m", "rag.cli", "ingest", str(ROOT / "data" / "articles")],
            env={"RAG_STORE_DIR": str(tmp_path / "var"), "PATH": "/usr/bin:/bin", "HF_HUB_OFFLINE": "1"},
            capture_output=True,
            text=True,
            cwd=ROOT,
            timeout=120,
        )
    finally:
        lock.release()
    assert result.returncode != 0
    assert "in use by a writer" in result.stderr
    assert "Traceback" not in result.stderr


class CrashingEmbedder:
    """Works for `calls` batches, then fails as a killed process would, mid-ingest."""

    def __init__(self, inner, calls: int) -> None:
        self.inner, self.calls = inner, calls

    def embed(self, texts):
        if self.calls == 0:
            raise RuntimeError("killed")
        self.calls -= 1
        return self.inner.embed(texts)


def test_a_crash_mid_ingest_is_repaired_by_the_next_one(tmp_path, fake_embedder, articles_dir):
    clean = Store(tmp_path / "clean", fake_embedder)
    ingest(clean, articles_dir)

    # a batch per article: article one's chunks embedded and written, then article two's embedding fails
    crashing = Store(tmp_path / "var", CrashingEmbedder(fake_embedder, calls=1), batch_chunks=1)
    with pytest.raises(RuntimeError, match="killed"):
        ingest(crashing, articles_dir)
    assert [d.doc_id for d in crashing.documents()] == ["000_73fb6efb81153680"]

    repaired = Store(tmp_path / "var", fake_embedder)
    report = ingest(repaired, articles_dir)
    assert report.unchanged == ["000_73fb6efb81153680"] and len(report.added) == 4
    assert sorted(c.id for c in repaired.lexical().chunks) == sorted(c.id for c in clean.lexical().chunks)
    assert repaired.chunk_count() == clean.chunk_count()


def test_a_replica_sees_another_replicas_writes_without_a_question_waiting_for_the_check(
    tmp_path, fake_embedder, monkeypatch
):
    """Two replicas on one Chroma: the reader notices the writer's article in its own thread, and no question
    reads every chunk id (0.2 s and more at 100k chunks) to find out."""
    settings = chromadb.Settings(anonymized_telemetry=False)
    client = chromadb.PersistentClient(path=str(tmp_path / "chroma"), settings=settings)
    reader = Store(tmp_path / "reader", fake_embedder, client, recheck_seconds=0.05)
    writer = Store(tmp_path / "writer", fake_embedder, client)
    assert reader.lexical_search(["orgel"], 5) == [] and writer.lexical_search(["orgel"], 5) == []  # both loaded
    checked_in: list[str] = []
    stamp = rag.store._stamp

    def recorded_stamp(ids):
        checked_in.append(threading.current_thread().name)
        return stamp(ids)

    monkeypatch.setattr(rag.store, "_stamp", recorded_stamp)

    with writer.writer():
        writer.sync([parse_article("Die Orgel der Kirche wurde geweiht.", "orgel")])
    deadline = time.monotonic() + 10
    while not reader.lexical_search(["orgel"], 5) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert reader.chunks(reader.lexical_search(["orgel"], 5))
    assert checked_in and set(checked_in) == {"chroma-watch"}

    reader.close()
    assert not any(t.name == "chroma-watch" and t.is_alive() for t in threading.enumerate())


def test_the_watcher_never_rebuilds_the_index_midway_through_this_replicas_own_write(
    tmp_path, fake_embedder, monkeypatch
):
    """Midway through a write Chroma holds chunks the index does not yet: a rebuild then would read every chunk
    for nothing (again and again during a long ingest)."""

    class SlowEmbedder:
        def embed(self, texts):
            time.sleep(0.05)
            return fake_embedder.embed(texts)

    store = Store(tmp_path / "var", SlowEmbedder(), recheck_seconds=0.01, batch_chunks=1)
    store.lexical()  # loaded, and the watcher started
    rebuilds = []
    monkeypatch.setattr(Store, "refresh_lexical", lambda self: rebuilds.append(1))
    articles = [parse_article(f"Artikel {n} über die Fähre nach Helgoland.", f"a{n}") for n in range(10)]
    with store.writer():
        store.sync(articles)
    time.sleep(0.1)  # rounds after the write find the index it left, which matches Chroma
    store.close()
    assert rebuilds == []
    assert len(store.lexical_search(["helgoland"], 20)) == 10
