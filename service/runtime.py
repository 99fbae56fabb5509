"""What a running service holds: the store (and its single-writer lock), the model behind its gate, and the
questions in flight, each with a queue place, a deadline and a way to be withdrawn."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import AbstractContextManager, contextmanager, nullcontext
from functools import partial
from typing import TypeVar

from rag.answer import Answer, Answerer
from rag.errors import (
    Cancelled,
    GenerationTimeout,
    ModelFailed,
    NotReady,
    Overloaded,
    RagError,
    StoreUnavailable,
)
from rag.llm import Generator
from rag.retrieve import Retrieval
from rag.settings import Settings
from rag.store import Snapshot, Store

log = logging.getLogger("rag.service")

POLL_SECONDS = 0.05  # how often a waiting question looks at its client, its deadline and the model's turn
T = TypeVar("T")


class ModelGate:
    """The one model, one question at a time. A question waits here for its turn and gives up as soon as it is
    withdrawn, so a client that left or a question past its deadline never reaches the model; a model that raises
    becomes ModelFailed (503), its traceback in the log only."""

    def __init__(self, generator: Generator) -> None:
        self.inner = generator
        self.name = generator.name
        self._turn = threading.Lock()
        self.busy = False

    def chat_prompt(self, user_message: str) -> str | None:
        return self.inner.chat_prompt(user_message)

    def logprobs(
        self, prompt: str, continuations: list[str], cancel: threading.Event | None = None
    ) -> list[list[float]]:
        with turn(self._turn, cancel):
            self.busy = True
            try:
                return self.inner.logprobs(prompt, continuations, cancel)
            except RagError:
                raise
            except Exception:
                log.exception("the model failed")
                raise ModelFailed("the model failed on this question; try again") from None
            finally:
                self.busy = False


@contextmanager
def turn(lock: threading.Lock, cancel: threading.Event | None) -> Iterator[None]:
    """Hold `lock`, waiting for it only while the question is not withdrawn (then Cancelled)."""
    while not lock.acquire(timeout=POLL_SECONDS):
        if cancel is not None and cancel.is_set():
            raise Cancelled("the question was withdrawn")
    try:
        if cancel is not None and cancel.is_set():
            raise Cancelled("the question was withdrawn")
        yield
    finally:
        lock.release()


class Runtime:
    def __init__(
        self,
        settings: Settings,
        open_store: Callable[[Settings], Store] | None = None,
        build_answerer: Callable[[Settings, Store], Answerer] | None = None,
    ) -> None:
        from rag import services

        self.settings = settings
        # the service only serves a store that exists, and takes the writer lock before Chroma opens the folder
        self._open_store = open_store or partial(services.open_store, create=False, writer=True)
        self._build_answerer = build_answerer or services.build_answerer
        self.store: Store | None = None
        self.answerer: Answerer | None = None
        self.model: ModelGate | None = None
        self.load_error: str | None = None
        self._started = False
        # one question runs on the model; up to max_waiting more may queue behind it, the rest are turned away.
        # A place is given back when the question's work has stopped, not when its client left.
        self._slots = threading.BoundedSemaphore(settings.max_waiting + 1)
        self._workers = ThreadPoolExecutor(settings.max_waiting + 1, thread_name_prefix="question")
        # Questions go through two stages, one question in each at a time: retrieval, then choosing the answer
        # (the model's part among it). Python work of many questions at once would fight over the GIL with the
        # event loop, which must turn surplus questions away within milliseconds.
        self.retrieving, self.answering = threading.Lock(), threading.Lock()
        self._in_flight: set[Inquiry] = set()
        self._in_flight_lock = threading.Lock()
        self._loader: threading.Thread | None = None
        self._write_lock = threading.Lock()

    def start(self) -> None:
        """Open the store as its one writer, then load the model in the background so /health answers at once.
        A missing, read-only or unreadable store leaves the service up and not ready (/ready says why); another
        writer holding the store raises StoreLocked. Safe to call twice."""
        if self._started:
            return
        try:
            self.store = self._open_store(self.settings)
            self.store.hold_writer()
        except StoreUnavailable as exc:
            log.error("not serving: %s", exc)
            self.load_error = _without_paths(str(exc), self.settings)
            self._started = True
            return
        self._started = True
        self._loader = threading.Thread(target=self._load, name="model-loader", daemon=True)
        self._loader.start()

    def _load(self) -> None:
        try:
            self.store.warm_up()
            answerer = self._build_answerer(self.settings, self.store)
            if hasattr(answerer, "generator"):
                self.model = answerer.generator = ModelGate(answerer.generator)
            self.answerer = answerer
            log.info("model loaded; ready")
        except Exception as exc:  # reported by /ready; the service stays up to say so
            log.exception("loading the model failed")
            self.load_error = f"loading failed: {type(exc).__name__}"

    def wait_until_loaded(self, timeout: float | None = None) -> None:
        if self._loader is not None:
            self._loader.join(timeout)

    def stop(self) -> None:
        """Withdraw what still runs (after the grace period), then give the store back."""
        with self._in_flight_lock:
            for inquiry in self._in_flight:
                inquiry.cancel.set()
        self._workers.shutdown(wait=False, cancel_futures=True)
        if self.store is not None:
            self.store.close()
            self.store.release_writer()

    # -- questions -------------------------------------------------------------------------------------------

    def admit(self, question: str, top_k: int) -> Inquiry:
        """A place in the model's queue for one question, or NotReady / Overloaded (503) at once."""
        answerer = self.loaded()
        if not self._slots.acquire(blocking=False):
            raise Overloaded("too many questions are waiting; try again shortly")
        inquiry = Inquiry(self, answerer, question, top_k)
        with self._in_flight_lock:
            self._in_flight.add(inquiry)
        return inquiry

    def full(self) -> bool:
        """Whether every place in the queue is taken right now (a hint: `admit` decides)."""
        with self._in_flight_lock:
            return len(self._in_flight) > self.settings.max_waiting

    def _release(self, inquiry: Inquiry) -> None:
        with self._in_flight_lock:
            self._in_flight.discard(inquiry)
        self._slots.release()

    async def answer(self, question: str, top_k: int, disconnected: Callable[[], Awaitable[bool]]) -> Answer:
        """Answer within the deadline; a client that leaves withdraws the question (the model stops at its next
        candidate, or never starts)."""
        with self.admit(question, top_k) as inquiry:
            retrieval = await inquiry.retrieve(disconnected)
            return await inquiry.answer(retrieval, disconnected)

    def loaded(self) -> Answerer:
        answerer = self.answerer
        if answerer is None:
            raise NotReady(self.load_error or "the model is still loading; try again shortly")
        return answerer

    def load(self) -> dict[str, object]:
        """What /health reports: questions holding a queue place, and whether the model is computing."""
        with self._in_flight_lock:
            questions = len(self._in_flight)
        return {"questions_in_flight": questions, "model_busy": bool(self.model and self.model.busy)}

    # -- the store -------------------------------------------------------------------------------------------

    def open_store(self) -> Store:
        if self.store is None:
            raise NotReady(self.load_error or "the store is not open yet")
        return self.store

    @contextmanager
    def writing(self) -> Iterator[Store]:
        """The store, for one write at a time (this process already holds the store's writer lock)."""
        store = self.open_store()
        with self._write_lock:
            yield store

    def readiness(self) -> tuple[bool, int, str | None]:
        if self.store is None:
            return False, 0, self.load_error or "the store is not open yet"
        try:
            chunks = self.store.chunk_count()
        except RagError as exc:
            return False, 0, str(exc)
        if self.answerer is None:
            return False, chunks, self.load_error or "model loading"
        if chunks == 0:
            return False, 0, "the index is empty: ingest articles first"
        return True, chunks, None


class Inquiry:
    """One admitted question: its queue place, a deadline (RAG_REQUEST_TIMEOUT_S from admission) and an event
    that withdraws it. Its work runs in the runtime's workers; the place is given back once that work has
    stopped and the inquiry is closed, so the queue bound holds even for clients that left."""

    def __init__(self, runtime: Runtime, answerer: Answerer, question: str, top_k: int) -> None:
        self.runtime = runtime
        self.answerer = answerer
        self.question = question
        self.top_k = top_k
        self.started = time.perf_counter()
        self.deadline = time.monotonic() + runtime.settings.request_timeout_s
        self.cancel = threading.Event()
        self.snapshot: Snapshot | None = None
        self._lock = threading.Lock()
        self._running = 0
        self._closed = False
        self._released = False

    def __enter__(self) -> Inquiry:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    async def retrieve(self, disconnected: Callable[[], Awaitable[bool]]) -> Retrieval:
        return await self._run(self._retrieve, disconnected)

    async def answer(self, retrieval: Retrieval, disconnected: Callable[[], Awaitable[bool]]) -> Answer:
        return await self._run(self._answer_from, disconnected, retrieval)

    def _retrieve(self) -> Retrieval:
        with turn(self.runtime.retrieving, self.cancel):
            # the question reads one snapshot of the store from retrieval to citation: a document written or
            # deleted meanwhile is cited as it was retrieved, never half updated
            self.snapshot = self.runtime.store.snapshot() if isinstance(self.runtime.store, Store) else None
            with self._reading():
                return self.answerer.retrieve(self.question, self.top_k)

    def _answer_from(self, retrieval: Retrieval) -> Answer:
        with turn(self.runtime.answering, self.cancel), self._reading():
            return self.answerer.answer_from(retrieval, started=self.started, cancel=self.cancel)

    def _reading(self) -> AbstractContextManager:
        return self.runtime.store.pinned(self.snapshot) if self.snapshot is not None else nullcontext()

    async def _run(self, work: Callable[..., T], disconnected: Callable[[], Awaitable[bool]], *args) -> T:
        """Run blocking work in a worker; stop waiting (and withdraw it) at the deadline or when the client goes."""
        with self._lock:
            self._running += 1
        future: Future = self.runtime._workers.submit(work, *args)
        future.add_done_callback(self._work_done)
        waiting = asyncio.wrap_future(future)
        try:
            while True:
                done, _ = await asyncio.wait({waiting}, timeout=POLL_SECONDS)
                if done:
                    return waiting.result()
                if time.monotonic() >= self.deadline:
                    raise GenerationTimeout(
                        f"the question took longer than {self.runtime.settings.request_timeout_s:g} s"
                    )
                if await disconnected():
                    raise Cancelled("the client went away")
        except BaseException:
            self.cancel.set()
            # nobody waits for a withdrawn answer: read its exception so that it is not reported as unread
            waiting.add_done_callback(lambda f: f.cancelled() or f.exception())
            raise

    def _work_done(self, future: Future) -> None:
        with self._lock:
            self._running -= 1
        self._release_when_idle()

    def close(self) -> None:
        """Withdraw the question (its work stops at the next candidate); the queue place follows when it has."""
        self.cancel.set()
        with self._lock:
            self._closed = True
        self._release_when_idle()

    def _release_when_idle(self) -> None:
        with self._lock:
            if not self._closed or self._running or self._released:
                return
            self._released = True
        self.runtime._release(self)


def _without_paths(message: str, settings: Settings) -> str:
    """An error that /ready shows: the store's folder is named in the log, not to clients."""
    return message.replace(str(settings.store_dir), "RAG_STORE_DIR")
