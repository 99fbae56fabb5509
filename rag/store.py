"""The store: chunks with embeddings in Chroma, full document texts beside them, and a derived BM25 index.

Chroma is the source of truth. The BM25 index is rebuilt from it after every write and persisted with a stamp
of the chunk ids it covers, so a crash between the two leaves a stale index that the next open rebuilds.
"""

from __future__ import annotations

import difflib
import fcntl
import hashlib
import json
import math
import os
import shutil
import threading
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Protocol

import bm25s
import chromadb
import cologne_phonetics
import numpy as np

from rag.errors import DocumentNotFound, StoreLocked, StoreUnavailable
from rag.ingest import Article, Chunk, Removed, chunk_article
from rag.text import TERMS_VERSION, Span, terms
from rag.timescope import Period


class Embedder(Protocol):
    def embed(self, texts: list[str]) -> list[list[float]]: ...


class SentenceTransformerEmbedder:
    """Loads the model on first use, so opening a store (or being refused its lock) stays cheap."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._model = None
        self._loading = threading.Lock()

    def load(self) -> None:
        with self._loading:
            if self._model is None:
                from sentence_transformers import SentenceTransformer
                from transformers.utils import logging as transformers_logging

                transformers_logging.disable_progress_bar()
                self._model = SentenceTransformer(str(self.path), device="cpu")

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


class LexicalIndex:
    """BM25 over German-stemmed chunk terms, with the chunk records it ranks."""

    def __init__(
        self, chunks: list[Chunk], bm25: bm25s.BM25 | None, stamp: str, chunk_terms: list[list[str]] | None = None
    ) -> None:
        self.chunks = chunks
        self.by_id = {c.id: c for c in chunks}
        self.stamp = stamp  # hash of the chunk ids it was built from
        self._bm25 = bm25
        self._time_masks: dict[str, np.ndarray] = {}
        self._closest = lru_cache(maxsize=4096)(self._closest_term)  # bounded: queries are unbounded
        self._sounds: dict[str, list[str]] | None = None  # phonetic code -> indexed terms, built when first needed
        chunk_terms = chunk_terms if chunk_terms is not None else [terms(c.text) for c in chunks]
        self._document_frequency = Counter(t for found in chunk_terms for t in set(found))
        self.article_terms: dict[str, set[str]] = {}
        for chunk, found in zip(chunks, chunk_terms, strict=True):
            self.article_terms.setdefault(chunk.doc_id, set()).update(found)

    def idf(self, term: str) -> float:
        """Smoothed inverse document frequency over chunks: rare terms weigh more as evidence."""
        df = self._document_frequency.get(term, 0)
        return math.log(1.0 + (len(self.chunks) - df + 0.5) / (df + 0.5))

    @classmethod
    def build(cls, chunks: list[Chunk], stamp: str) -> LexicalIndex:
        if not chunks:
            return cls([], None, stamp)
        chunk_terms = [terms(c.text) for c in chunks]
        bm25 = bm25s.BM25()
        # an empty term list would break the index; a placeholder token matches no query
        bm25.index([found or ["\x00"] for found in chunk_terms], show_progress=False)
        return cls(chunks, bm25, stamp, chunk_terms)

    def time_mask(self, key: str) -> np.ndarray:
        """1.0 for chunks filed under the period `key` ("t_2022"), else 0.0; cached per period."""
        if key not in self._time_masks:
            self._time_masks[key] = np.array([key in c.time_keys for c in self.chunks], dtype=float)
        return self._time_masks[key]

    def correct(self, term: str) -> str:
        """The indexed term closest in spelling to an unknown one ("blinkn" -> "blink"); known terms stay."""
        if term in self._document_frequency or len(term) < 4 or term.isdigit():
            return term
        return self._closest(term)

    def _closest_term(self, term: str) -> str:
        """A typo ("merkl") is close in spelling; a transliteration ("yeltsin", "medvedev") sounds the same
        (Kölner Phonetik) and is the closest of those in spelling."""
        close = difflib.get_close_matches(term, self._vocabulary(len(term)), n=1, cutoff=0.8)
        if close:
            return close[0]
        alike = difflib.get_close_matches(term, self._sounding_like().get(_sound(term), []), n=1, cutoff=0.5)
        return alike[0] if alike else term

    def _sounding_like(self) -> dict[str, list[str]]:
        if self._sounds is None:
            self._sounds = {}
            for known in self._document_frequency:
                if len(known) >= 4 and not known.isdigit():
                    self._sounds.setdefault(_sound(known), []).append(known)
        return self._sounds

    def _vocabulary(self, length: int) -> list[str]:
        return [t for t in self._document_frequency if abs(len(t) - length) <= 2]

    def scores(self, query_terms: list[str]) -> np.ndarray:
        if self._bm25 is None or not query_terms:
            return np.zeros(len(self.chunks))
        return self._bm25.get_scores(query_terms)

    def save(self, folder: Path) -> None:
        """Write beside, then swap: a crash leaves the old index, the new one or none, and a missing or
        mis-stamped index is rebuilt from Chroma on the next open."""
        tmp = folder.with_name(folder.name + ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        if self._bm25 is not None:
            self._bm25.save(str(tmp / "bm25"))
        rows = [[c.id, c.text, _chunk_metadata(c)] for c in self.chunks]
        (tmp / "chunks.json").write_text(json.dumps({"stamp": self.stamp, "chunks": rows}), encoding="utf-8")
        shutil.rmtree(folder, ignore_errors=True)
        tmp.rename(folder)

    @classmethod
    def load(cls, folder: Path, stamp: str) -> LexicalIndex | None:
        try:
            saved = json.loads((folder / "chunks.json").read_text(encoding="utf-8"))
            if saved.get("stamp") != stamp:
                return None
            chunks = [_chunk_from_chroma(*row) for row in saved["chunks"]]
            return cls(chunks, bm25s.BM25.load(str(folder / "bm25")) if chunks else None, stamp)
        except (OSError, ValueError, KeyError):
            return None


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
    ) -> None:
        """`client` defaults to a Chroma folder under `folder`, made when missing if `create`; without `create` a
        missing, read-only or unreadable store is StoreUnavailable and nothing is made in its place. With a shared
        Chroma server other replicas may write too: `recheck_seconds` then bounds how stale this process's BM25
        index may get. `lock` is the writer lock when the caller took it before opening (see services)."""
        self.folder = folder
        self.embedder = embedder
        self._recheck_seconds = recheck_seconds
        self._checked_at = time.monotonic()
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
        changed."""
        articles = list(articles)
        known = self._document_hashes()
        report = SyncReport()
        iterator = articles
        if progress:
            from tqdm import tqdm

            iterator = tqdm(articles, desc="ingest", unit="article")
        for article in iterator:
            if known.get(article.doc_id) == article.content_hash:
                report.unchanged.append(article.doc_id)
                continue
            self._write_article(article, chunk_article(article, chunk_chars, overlap_sentences))
            (report.updated if article.doc_id in known else report.added).append(article.doc_id)
        if prune:
            keep = keep | {a.doc_id for a in articles}
            for doc_id in sorted(set(known) - keep):
                self._delete_article(doc_id)
                report.removed.append(doc_id)
        if report.added or report.updated or report.removed:
            self.refresh_lexical()
        return report

    def put(self, article: Article, chunk_chars: int = 700, overlap_sentences: int = 1) -> SyncReport:
        return self.sync([article], prune=False, chunk_chars=chunk_chars, overlap_sentences=overlap_sentences)

    def delete(self, doc_id: str) -> None:
        if doc_id not in self._document_hashes():
            raise DocumentNotFound(f"no document {doc_id!r}")
        self._delete_article(doc_id)
        self.refresh_lexical()

    def _write_article(self, article: Article, chunks: list[Chunk]) -> None:
        # new chunks first, then stale ones out, and the document record last: it marks the article as complete,
        # so a crash anywhere before it makes the next sync redo this article
        self._keep(article.doc_id)
        if chunks:
            self._chunks.upsert(
                ids=[c.id for c in chunks],
                documents=[c.text for c in chunks],
                embeddings=self.embedder.embed([c.text for c in chunks]),
                metadatas=[_chunk_metadata(c) for c in chunks],
            )
        fresh = {c.id for c in chunks}
        stale = [i for i in self._chunks.get(where={"doc_id": article.doc_id}, include=[])["ids"] if i not in fresh]
        if stale:
            self._chunks.delete(ids=stale)
        self._documents.upsert(
            ids=[article.doc_id],
            documents=[article.text],
            embeddings=self.embedder.embed([article.text]),
            metadatas=[
                {
                    "source": article.source,
                    "date": str(article.date) if article.date else "",
                    "content_hash": article.content_hash,
                    "chunk_count": len(chunks),
                    "removed": json.dumps([[r.kind, r.text] for r in article.removed], ensure_ascii=False),
                }
            ],
        )

    def _delete_article(self, doc_id: str) -> None:
        self._keep(doc_id)
        self._documents.delete(ids=[doc_id])
        self._chunks.delete(where={"doc_id": doc_id})

    def _document_hashes(self) -> dict[str, str]:
        got = self._documents.get(include=["metadatas"])
        return {i: m["content_hash"] for i, m in zip(got["ids"], got["metadatas"])}

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
        due = self._recheck_seconds is not None and time.monotonic() - self._checked_at > self._recheck_seconds
        if self._snapshot is None or due:
            self._checked_at = time.monotonic()
            stamp = _stamp(self._chunks.get(include=[])["ids"])
            if self._snapshot is None or self._snapshot.lexical.stamp != stamp:
                loaded = LexicalIndex.load(self.folder / "lexical", stamp)
                return self._commit(loaded) if loaded is not None else self.refresh_lexical()
        return self._snapshot.lexical

    def refresh_lexical(self) -> LexicalIndex:
        got = self._chunks.get(include=["documents", "metadatas"])
        chunks = sorted(
            (_chunk_from_chroma(i, d, m) for i, d, m in zip(got["ids"], got["documents"], got["metadatas"])),
            key=lambda c: (c.doc_id, c.start),
        )
        lexical = LexicalIndex.build(chunks, _stamp(got["ids"]))
        self.folder.mkdir(parents=True, exist_ok=True)
        lexical.save(self.folder / "lexical")
        return self._commit(lexical)

    def dense_search(self, vector: list[float], n: int, time_key: str | None = None) -> list[tuple[str, float]]:
        """(chunk id, cosine similarity), best first; `time_key` keeps chunks filed under that period."""
        count = self._chunks.count()
        if count == 0:
            return []
        got = self._chunks.query(
            query_embeddings=[vector],
            n_results=min(n, count),
            where={time_key: True} if time_key else None,
            include=["distances"],
        )
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


def _chunk_metadata(chunk: Chunk) -> dict:
    metadata: dict = {
        "doc_id": chunk.doc_id,
        "date": str(chunk.date) if chunk.date else "",
        "start": chunk.start,
        "end": chunk.end,
        "sentences": json.dumps([[s.start, s.end] for s in chunk.sentences]),
    }
    metadata.update({key: True for key in chunk.time_keys})
    return metadata


def _chunk_from_chroma(chunk_id: str, text: str, metadata: dict) -> Chunk:
    return Chunk(
        id=chunk_id,
        doc_id=metadata["doc_id"],
        text=text,
        start=metadata["start"],
        end=metadata["end"],
        date=Period.parse(metadata["date"]),
        sentences=tuple(Span(s, e) for s, e in json.loads(metadata["sentences"])),
        time_keys=frozenset(k for k, v in metadata.items() if k.startswith("t_") and v is True),
    )


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
    return hashlib.sha256("\n".join([TERMS_VERSION, *sorted(ids)]).encode()).hexdigest()


def _sound(term: str) -> str:
    return "".join(code for _, code in cologne_phonetics.encode(term))
