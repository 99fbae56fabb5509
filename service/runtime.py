"""What a running service holds: the store (and its single-writer lock) and, once loaded, the answerer."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rag.answer import Answer, Answerer
from rag.errors import NotReady, Overloaded, RagError
from rag.settings import Settings
from rag.store import Store

log = logging.getLogger("rag.service")


class Runtime:
    def __init__(
        self,
        settings: Settings,
        open_store: Callable[[Settings], Store] | None = None,
        build_answerer: Callable[[Settings, Store], Answerer] | None = None,
    ) -> None:
        from rag import services

        self.settings = settings
        self._open_store = open_store or services.open_store
        self._build_answerer = build_answerer or services.build_answerer
        self.store: Store | None = None
        self.answerer: Answerer | None = None
        self.load_error: str | None = None
        # one question runs on the model; up to max_waiting more may queue behind it, the rest are turned away
        self._slots = threading.BoundedSemaphore(settings.max_waiting + 1)
        self._loader: threading.Thread | None = None
        self._write_lock = threading.Lock()

    def start(self) -> None:
        """Open the store as its one writer, then load the model in the background so /health answers at once."""
        self.store = self._open_store(self.settings)
        self.store.hold_writer()
        self._loader = threading.Thread(target=self._load, name="model-loader", daemon=True)
        self._loader.start()

    def _load(self) -> None:
        try:
            self.store.warm_up()
            self.answerer = self._build_answerer(self.settings, self.store)
            log.info("model loaded; ready")
        except Exception as exc:  # reported by /ready; the service stays up to say so
            log.exception("loading the model failed")
            # the message may name files (a model path): it goes to the log, the client gets its kind only
            self.load_error = f"loading failed ({type(exc).__name__}); the service log says why"

    def wait_until_loaded(self, timeout: float | None = None) -> None:
        if self._loader is not None:
            self._loader.join(timeout)

    def stop(self) -> None:
        if self.store is not None:
            self.store.release_writer()

    @contextmanager
    def answering(self) -> Iterator[Answerer]:
        """The answerer, holding one of the limited places in the queue for the model."""
        answerer = self.answerer
        if answerer is None:
            raise NotReady(self.load_error or "the model is still loading; try again shortly")
        if not self._slots.acquire(blocking=False):
            raise Overloaded("too many questions are waiting; try again shortly")
        try:
            yield answerer
        finally:
            self._slots.release()

    def ask(self, question: str, top_k: int) -> Answer:
        with self.answering() as answerer:
            return answerer.ask(question, top_k)

    def open_store(self) -> Store:
        if self.store is None:
            raise NotReady("the store is not open yet")
        return self.store

    @contextmanager
    def writing(self) -> Iterator[Store]:
        """The store, for one write at a time (this process already holds the store's writer lock)."""
        store = self.open_store()
        with self._write_lock:
            yield store

    def readiness(self) -> tuple[bool, int, str | None]:
        try:
            chunks = self.store.chunk_count() if self.store is not None else 0
        except RagError as exc:
            return False, 0, str(exc)
        if self.answerer is None:
            return False, chunks, self.load_error or "model loading"
        if chunks == 0:
            return False, 0, "the index is empty: ingest articles first"
        return True, chunks, None
