"""The store: chunks with embeddings in Chroma, full document texts beside them, and a derived BM25 index.

Chroma is the source of truth. A write updates the BM25 index by the chunks it changed (rag.lexical) after
Chroma, and the index is persisted with a stamp of the chunk ids it covers, so a crash between the two leaves a
stale index that the next open rebuilds from Chroma.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import threading
import weakref
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import chromadb
import numpy as np

from rag.errors import DocumentNotFound, StoreLocked, StoreUnavailable
from rag.ingest import Article, Chunk, Removed, chunk_article
from rag.lexical import LexicalIndex, chunk_from_chroma, chunk_metadata, stamp_of
from rag.timescope import DateRange, Period

log = logging.getLogger(__name__)

DENSE_FILTER_DEPTH = 1000  # nearest chunks a time filter picks from (see Store.dense_search)

__all__ = ["LexicalIndex", "PassageStore", "Store", "Vocabulary", "WriteLock"]


class Embedder(Protocol):
    def embed(self, texts: list[str]) -> list[list[float]]: ...


class Vocabulary(Protocol):
    """The indexed terms, which a question's words are corrected and weighed against."""

    def correct(self, term: str) -> str:
        """The indexed term closest to an unknown one; a known term stays."""
        ...

    def idf(self, term: str) -> float: ...

    def terms_of_article(self, doc_id: str) -> frozenset[str]: ...


class PassageStore(Protocol):
    """All that answering reads from a store. The embedded store and one on a Chroma server keep the same
    contract (tests/test_store_contract.py)."""

    def dense_search(
        self, vector: list[float], n: int, time_key: str | None = None, dated: DateRange | None = None
    ) -> list[tuple[str, float]]:
        """(chunk id, cosine similarity), best first; with `time_key`, only chunks filed under that period, with
        `dated`, only chunks of articles dated in that range."""
        ...

    def lexical_search(
        self, terms: list[str], n: int, time_key: str | None = None, dated: DateRange | None = None
    ) -> list[str]:
        """Chunk ids by BM25 over these terms, best first; filtered as `dense_search` is."""
        ...

    def chunks(self, chunk_ids: Iterable[str]) -> dict[str, Chunk]:
        """The chunks of these ids that are stored (one deleted since it was found is left out)."""
        ...

    def document(self, doc_id: str) -> StoredDocument:
        """The whole document (DocumentNotFound if there is none)."""
        ...

    def vocabulary(self) -> Vocabulary: ...


class SentenceTransformerEmbedder:
    """Loads the model on first use, so opening a store (or being refused its lock) stays cheap."""

    def __init__(self, path: Path, max_tokens: int | None = None) -> None:
        self.path = path
        self.max_tokens = max_tokens  # a longer text is cut after this many tokens (None: the model's own limit)
        self._model = None
        self._loading = threading.Lock()

    def load(self) -> None:
        with self._loading:
            if self._model is None:
                from sentence_transformers import SentenceTransformer
                from transformers.utils import logging as transformers_logging

                transformers_logging.disable_progress_bar()
                model = SentenceTransformer(str(self.path), device="cpu")
                if self.max_tokens is not None:
                    model.max_seq_length = self.max_tokens
                self._model = model

    def embed(self, texts: list[str]) -> list[list[float]]:
        self.load()
        return self._model.encode(texts, normalize_embeddings=True, batch_size=32).tolist()


@dataclass(frozen=True)
class StoredDocument:
    doc_id: str
    source: str
    text: str
    date: Period | None
    chunk_count: int
    removed: list[Removed]


@dataclass
class SyncReport:
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        return (
            f"{len(self.added)} added, {len(self.updated)} updated, "
            f"{len(self.unchanged)} unchanged, {len(self.removed)} removed"
        )


class WriteLock:
    """An exclusive, non-blocking lock on the store folder: one writer at a time, across processes."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    def acquire(self) -> None:
        if self._fd is not None:  # already held by this process: taking it again must not lock it against itself
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "another process"
            os.close(fd)
            raise StoreLocked(
                f"the store {self.path.parent} is in use by a writer (pid {holder}); "
                "stop the running ingest or service first"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


@dataclass(eq=False)
class Snapshot:
    """What a question reads, fixed when it starts: the BM25 index with its chunks, and the documents as they were
    then. A write keeps each document's record as it was before the write in the snapshot current at the time
    (`preserved`, None for a document that did not exist), so a question pinned to an older snapshot cites the
    version it retrieved, never one that is half written, changed or deleted since."""

    lexical: LexicalIndex
    preserved: dict[str, StoredDocument | None] = field(default_factory=dict)
    successor: Snapshot | None = None

    def kept(self, doc_id: str) -> tuple[bool, StoredDocument | None]:
        """(found, record): the record as of this snapshot, if a later write kept it."""
        snapshot: Snapshot | None = self
        while snapshot is not None:
            if doc_id in snapshot.preserved:
                return True, snapshot.preserved[doc_id]
            snapshot = snapshot.successor
        return False, None


class Store:
    def __init__(
        self,
        folder: Path,
        embedder: Embedder,
        client: chromadb.api.ClientAPI | None = None,
        recheck_seconds: float | None = None,
        *,
        create: bool = True,
        lock: WriteLock | None = None,
        batch_chunks: int = 64,
        compact_share: float = 0.25,
    ) -> None:
        """`client` defaults to a Chroma folder under `folder`, made when missing if `create`; without `create` a
        missing, read-only or unreadable store is StoreUnavailable and nothing is made in its place. With a shared
        Chroma server other replicas may write too: `recheck_seconds` then bounds how stale this process's BM25
        index may get. `lock` is the writer lock when the caller took it before opening (see services). A sync embeds
        and writes about `batch_chunks` chunks at a time; the BM25 index is compacted once the chunks written
        since its base pass `compact_share` of it."""
        self.folder = folder
        self._batch_chunks = batch_chunks
        self._compact_share = compact_share
        self.embedder = embedder
        self._recheck_seconds = recheck_seconds
        self._writing = threading.Lock()  # held by this process's writes
        self._watching = threading.Lock()
        self._watcher: threading.Thread | None = None
        self._closed = threading.Event()
        self._lock = lock or WriteLock(folder / "writer.lock")
        must_exist = client is None and not create
        try:
            if client is None:
                if must_exist:
                    require_store(folder)
                folder.mkdir(parents=True, exist_ok=True)
                client = chromadb.PersistentClient(
                    path=str(folder / "chroma"), settings=chromadb.Settings(anonymized_telemetry=False)
                )
            if must_exist:  # a store made by `rag ingest` has both collections
                self._chunks = client.get_collection("chunks", embedding_function=None)
                self._documents = client.get_collection("documents", embedding_function=None)
            else:
                self._chunks = client.get_or_create_collection(
                    "chunks", metadata={"hnsw:space": "cosine"}, embedding_function=None
                )
                self._documents = client.get_or_create_collection(
                    "documents", metadata={"hnsw:space": "cosine"}, embedding_function=None
                )
        except StoreUnavailable:
            raise
        except Exception as exc:  # Chroma's own errors on a damaged folder: say so, never start a new store there
            raise StoreUnavailable(f"the store in {folder} cannot be opened: {type(exc).__name__}: {exc}") from exc
        self._snapshot: Snapshot | None = None
        self._pinned = threading.local()  # the snapshot the calling thread's question reads, if any

    # -- writing -------------------------------------------------------------------------------------------

    @contextmanager
    def writer(self) -> Iterator[Store]:
        """Hold the single-writer lock for the duration of the block."""
        self._lock.acquire()
        try:
            yield self
        finally:
            self._lock.release()

    def hold_writer(self) -> None:
        """Take the writer lock until `release_writer` (the service holds it while it runs)."""
        self._lock.acquire()

    def release_writer(self) -> None:
        self._lock.release()

    def sync(
        self,
        articles: Iterable[Article],
        *,
        prune: bool = True,
        keep: frozenset[str] = frozenset(),
        chunk_chars: int = 700,
        overlap_sentences: int = 1,
        progress: bool = False,
    ) -> SyncReport:
        """Make the store hold exactly these articles (with `prune`: and the ids in `keep`), writing only what
        changed: changed articles in batches, then the BM25 index by the chunks written."""
        with self._writing:  # the watcher waits: midway through a write, Chroma and the index differ
            articles = list(articles)
            known = self._document_hashes(None if prune else [a.doc_id for a in articles])
            report = SyncReport()
            before = self.lexical()  # the index Chroma held before this write: it is updated by what changes
            changed: list[tuple[Article, list[Chunk]]] = []
            for article in articles:
                if known.get(article.doc_id) == article.content_hash:
                    report.unchanged.append(article.doc_id)
                else:
                    changed.append((article, chunk_article(article, chunk_chars, overlap_sentences)))
                    (report.updated if article.doc_id in known else report.added).append(article.doc_id)
            bar = _progress(len(changed)) if progress and changed else None
            for batch in _batches(changed, self._batch_chunks):
                self._write_articles(batch)
                if bar is not None:
                    bar.update(len(batch))
            if prune:
                keep = keep | {a.doc_id for a in articles}
                for doc_id in sorted(set(known) - keep):
                    self._delete_article(doc_id)
                    report.removed.append(doc_id)
            if changed or report.removed:
                written = [c for _, chunks in changed for c in chunks]
                self._update_lexical(before, written, [a.doc_id for a, _ in changed] + report.removed)
            return report

    def put(self, article: Article, chunk_chars: int = 700, overlap_sentences: int = 1) -> SyncReport:
        return self.sync([article], prune=False, chunk_chars=chunk_chars, overlap_sentences=overlap_sentences)

    def delete(self, doc_id: str) -> None:
        with self._writing:
            if not self._document_hashes([doc_id]):
                raise DocumentNotFound(f"no document {doc_id!r}")
            before = self.lexical()
            self._delete_article(doc_id)
            self._update_lexical(before, [], [doc_id])

    def _write_articles(self, batch: list[tuple[Article, list[Chunk]]]) -> None:
        # new chunks first, then stale ones out, and the document records last: a record marks its article as
        # complete, so a crash anywhere before it makes the next sync redo that article
        for article, _ in batch:
            self._keep(article.doc_id)
        chunks = [c for _, article_chunks in batch for c in article_chunks]
        vectors = self.embedder.embed([c.text for c in chunks]) if chunks else []
        if chunks:
            self._chunks.upsert(
                ids=[c.id for c in chunks],
                documents=[c.text for c in chunks],
                embeddings=vectors,
                metadatas=[chunk_metadata(c) for c in chunks],
            )
        fresh = {c.id for c in chunks}
        doc_ids = [article.doc_id for article, _ in batch]
        held = self._chunks.get(where={"doc_id": {"$in": doc_ids}}, include=[])["ids"]
        if stale := [i for i in held if i not in fresh]:
            self._chunks.delete(ids=stale)
        by_id = dict(zip((c.id for c in chunks), vectors))
        self._documents.upsert(
            ids=doc_ids,
            documents=[article.text for article, _ in batch],
            # nothing searches the documents by vector: the mean of its chunks' vectors costs no model call
            embeddings=[self._document_vector(article, [by_id[c.id] for c in cs]) for article, cs in batch],
            metadatas=[
                {
                    "source": article.source,
                    "date": str(article.date) if article.date else "",
                    "content_hash": article.content_hash,
                    "chunk_count": len(article_chunks),
                    "removed": json.dumps([[r.kind, r.text] for r in article.removed], ensure_ascii=False),
                }
                for article, article_chunks in batch
            ],
        )

    def _document_vector(self, article: Article, vectors: list[list[float]]) -> list[float]:
        if not vectors:
            return self.embedder.embed([article.text])[0]
        mean = np.mean(np.asarray(vectors, dtype=float), axis=0)
        return (mean / (np.linalg.norm(mean) or 1.0)).tolist()

    def _delete_article(self, doc_id: str) -> None:
        self._keep(doc_id)
        self._documents.delete(ids=[doc_id])
        self._chunks.delete(where={"doc_id": doc_id})

    def _document_hashes(self, doc_ids: list[str] | None = None) -> dict[str, str]:
        """content hash by document id: of these documents, or of all (a sync that prunes needs every id)."""
        if doc_ids is not None and not doc_ids:
            return {}
        got = self._documents.get(ids=doc_ids, include=["metadatas"])
        return {i: m["content_hash"] for i, m in zip(got["ids"], got["metadatas"])}

    def _update_lexical(self, before: LexicalIndex, written: list[Chunk], rewritten: list[str]) -> None:
        """Chroma has changed: every chunk of the `rewritten` documents out of the index, the `written` ones in;
        compacted once the writes since its base pass a share of it (reads every row, so not on every write)."""
        lexical = before.changed(written, rewritten)
        if lexical.needs_compaction(self._compact_share):
            lexical = lexical.compacted()
            lexical.save(self.folder / "lexical")
        else:
            lexical.log(self.folder / "lexical", written, rewritten)
        self._commit(lexical)

    # -- reading -------------------------------------------------------------------------------------------

    def warm_up(self) -> None:
        """Load the embedder and the BM25 index now rather than on the first question."""
        self.lexical()
        self.embedder.embed(["Aufwärmen"])

    def chunk_count(self) -> int:
        return self._chunks.count()

    def document(self, doc_id: str) -> StoredDocument:
        """The document; inside `pinned(snapshot)`, as it was when the snapshot was taken."""
        pinned: Snapshot | None = getattr(self._pinned, "snapshot", None)
        if pinned is not None:
            found, record = pinned.kept(doc_id)
            if not found:
                record = self._stored_document(doc_id)
                # a write may have started in between: it keeps the old record before it changes anything
                found, kept = pinned.kept(doc_id)
                record = kept if found else record
        else:
            record = self._stored_document(doc_id)
        if record is None:
            raise DocumentNotFound(f"no document {doc_id!r}")
        return record

    def _stored_document(self, doc_id: str) -> StoredDocument | None:
        got = self._documents.get(ids=[doc_id], include=["documents", "metadatas"])
        return _document_from_chroma(doc_id, got["documents"][0], got["metadatas"][0]) if got["ids"] else None

    def snapshot(self) -> Snapshot:
        """The current snapshot, for a question to read through `pinned`."""
        self.lexical()
        return self._snapshot

    @contextmanager
    def pinned(self, snapshot: Snapshot | None) -> Iterator[None]:
        """In this block this thread reads `snapshot`: its BM25 index and chunks, its documents."""
        previous = getattr(self._pinned, "snapshot", None)
        self._pinned.snapshot = snapshot
        try:
            yield
        finally:
            self._pinned.snapshot = previous

    def _keep(self, doc_id: str) -> None:
        """Before a write changes `doc_id`: keep its record as it is for the questions reading the current snapshot."""
        if self._snapshot is not None and doc_id not in self._snapshot.preserved:
            self._snapshot.preserved[doc_id] = self._stored_document(doc_id)

    def _commit(self, lexical: LexicalIndex) -> LexicalIndex:
        """Make `lexical` current: new questions read it; those pinned to older snapshots keep theirs."""
        fresh = Snapshot(lexical)
        if self._snapshot is not None:
            self._snapshot.successor = fresh
        self._snapshot = fresh
        return lexical

    def documents(self) -> list[StoredDocument]:
        got = self._documents.get(include=["documents", "metadatas"])
        docs = [_document_from_chroma(i, d, m) for i, d, m in zip(got["ids"], got["documents"], got["metadatas"])]
        return sorted(docs, key=lambda d: d.doc_id)

    def lexical(self) -> LexicalIndex:
        pinned: Snapshot | None = getattr(self._pinned, "snapshot", None)
        if pinned is not None:
            return pinned.lexical
        if self._snapshot is None:
            self.recheck()
            self._watch_other_writers()
        return self._snapshot.lexical

    def recheck(self) -> None:
        """Make the BM25 index match the chunks Chroma holds now: the persisted one if its stamp fits, else a
        rebuild."""
        stamp = _stamp(self._chunks.get(include=[])["ids"])
        if self._snapshot is None or self._snapshot.lexical.stamp != stamp:
            loaded = LexicalIndex.load(self.folder / "lexical", stamp)
            if loaded is None:
                self.refresh_lexical()
            else:
                self._commit(loaded)

    def _recheck_between_writes(self) -> None:
        """The watcher's round, skipped while this process writes: midway, Chroma and the index differ."""
        if self._writing.acquire(blocking=False):
            try:
                self.recheck()
            finally:
                self._writing.release()

    def _watch_other_writers(self) -> None:
        """With a shared Chroma server, recheck every `recheck_seconds` in a thread of its own: re-reading every
        chunk id takes 0.2 s and more at 100k chunks, which no question should wait for."""
        with self._watching:
            if self._recheck_seconds is None or self._watcher is not None or self._closed.is_set():
                return
            self._watcher = threading.Thread(
                target=_watch, args=(weakref.ref(self), self._recheck_seconds, self._closed),
                name="chroma-watch", daemon=True,
            )  # fmt: skip
            self._watcher.start()

    def close(self) -> None:
        """Stop watching for other writers (the Chroma client needs no closing)."""
        self._closed.set()
        if self._watcher is not None:
            self._watcher.join(timeout=30)

    def refresh_lexical(self) -> LexicalIndex:
        """Rebuild the index from every chunk in Chroma: at first, or when the persisted one does not match."""
        got = self._chunks.get(include=["documents", "metadatas"])
        lexical = LexicalIndex.build(
            chunk_from_chroma(i, d, m) for i, d, m in zip(got["ids"], got["documents"], got["metadatas"])
        )
        self.folder.mkdir(parents=True, exist_ok=True)
        lexical.save(self.folder / "lexical")
        return self._commit(lexical)

    # -- the PassageStore contract: inside `pinned(snapshot)` the lexical side reads that snapshot ------------

    def lexical_search(
        self, terms: list[str], n: int, time_key: str | None = None, dated: DateRange | None = None
    ) -> list[str]:
        return self.lexical().search(terms, n, time_key, dated)

    def chunks(self, chunk_ids: Iterable[str]) -> dict[str, Chunk]:
        held = self.lexical().by_id
        return {i: held[i] for i in chunk_ids if i in held}

    def vocabulary(self) -> Vocabulary:
        return self.lexical()

    def dense_search(
        self, vector: list[float], n: int, time_key: str | None = None, dated: DateRange | None = None
    ) -> list[tuple[str, float]]:
        if time_key is None and dated is None:
            return self._nearest(vector, n)
        # Chroma's `where` scans its metadata table: 150-200 ms at 100k chunks, whatever it keeps, against 10 ms
        # for the nearest 1,000 unfiltered. So the filter runs here, over those; a period too rare to be among
        # them is left to the BM25 side, which masks exactly.
        nearest = self._nearest(vector, max(n, DENSE_FILTER_DEPTH))
        held = self.chunks(i for i, _ in nearest)

        def admitted(chunk: Chunk) -> bool:
            return (time_key is None or time_key in chunk.time_keys) and (dated is None or dated.admits(chunk.date))

        return [(i, similarity) for i, similarity in nearest if i in held and admitted(held[i])][:n]

    def _nearest(self, vector: list[float], n: int) -> list[tuple[str, float]]:
        """(chunk id, cosine similarity) of the `n` nearest chunks, best first."""
        got = self._chunks.query(query_embeddings=[vector], n_results=n, include=["distances"])
        return [(i, 1.0 - d) for i, d in zip(got["ids"][0], got["distances"][0])]


def require_store(folder: Path) -> None:
    """StoreUnavailable unless `folder` holds a Chroma store this process may write."""
    database = folder / "chroma" / "chroma.sqlite3"
    if not folder.is_dir():
        raise StoreUnavailable(f"no store in {folder}: the folder is missing (`rag ingest` makes one)")
    if not database.is_file():
        raise StoreUnavailable(f"no store in {folder}: it holds no chroma/chroma.sqlite3 (`rag ingest` makes one)")
    if not all(os.access(path, os.W_OK) for path in (folder, database.parent, database)):
        raise StoreUnavailable(f"the store in {folder} is read-only: the service writes to it (lock, documents)")


def _document_from_chroma(doc_id: str, text: str, metadata: dict) -> StoredDocument:
    return StoredDocument(
        doc_id=doc_id,
        source=metadata["source"],
        text=text,
        date=Period.parse(metadata["date"]),
        chunk_count=metadata["chunk_count"],
        removed=[Removed(kind, removed) for kind, removed in json.loads(metadata["removed"])],
    )


def _stamp(ids: Iterable[str]) -> str:
    return stamp_of(ids)


def _watch(store: weakref.ref[Store], interval: float, closed: threading.Event) -> None:
    """Recheck the store every `interval` seconds until it is closed or gone (a weak reference, so a store
    nobody closed still goes)."""
    while not closed.wait(interval):
        watched = store()
        if watched is None:
            return
        try:
            watched._recheck_between_writes()
        except Exception:  # a server away for a moment: the next round tries again; questions read the last index
            log.warning("could not recheck the chunks on the Chroma server", exc_info=True)
        del watched


def _batches(changed: list[tuple[Article, list[Chunk]]], chunks: int) -> Iterator[list[tuple[Article, list[Chunk]]]]:
    """Whole articles, about `chunks` chunks a batch: one model call and one Chroma write for each."""
    batch: list[tuple[Article, list[Chunk]]] = []
    for item in changed:
        batch.append(item)
        if sum(len(c) for _, c in batch) >= chunks:
            yield batch
            batch = []
    if batch:
        yield batch


def _progress(total: int):
    from tqdm import tqdm

    return tqdm(total=total, desc="ingest", unit="article")
