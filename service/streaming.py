"""Answering while a client waits on a stream: the model runs in a worker thread and stops if the client goes."""

from __future__ import annotations

import asyncio
import json
import re
import threading
import time
from collections.abc import AsyncIterator
from contextlib import ExitStack

from fastapi import Request

from rag.answer import Answer
from rag.retrieve import Retrieval
from service.runtime import Runtime

POLL_SECONDS = 0.05


def sse(event: str | None, data: object) -> str:
    """One Server-Sent Event."""
    payload = data if isinstance(data, str) else json.dumps(data, ensure_ascii=False)
    return (f"event: {event}\n" if event else "") + f"data: {payload}\n\n"


def words(text: str) -> list[str]:
    """The answer in pieces as it is sent: each word with the space after it."""
    return re.findall(r"\S+\s*", text)


class AnswerStream:
    """Takes a place in the model's queue at once (so a full queue is a plain 503), then yields
    ("passages", Retrieval) and ("answer", Answer) as they are ready."""

    def __init__(self, runtime: Runtime, request: Request, question: str, top_k: int) -> None:
        self._stack = ExitStack()
        self.answerer = self._stack.enter_context(runtime.answering())
        self.request = request
        self.question = question
        self.top_k = top_k
        self.cancel = threading.Event()

    async def events(self) -> AsyncIterator[tuple[str, Retrieval | Answer]]:
        loop = asyncio.get_running_loop()
        pending: asyncio.Future | None = None
        try:
            started = time.perf_counter()
            retrieval = await loop.run_in_executor(None, self.answerer.retrieve, self.question, self.top_k)
            yield "passages", retrieval
            pending = loop.run_in_executor(
                None, lambda: self.answerer.answer_from(retrieval, started=started, cancel=self.cancel)
            )
            while not pending.done():
                if await self.request.is_disconnected():
                    self.cancel.set()
                await asyncio.wait({pending}, timeout=POLL_SECONDS)
            yield "answer", pending.result()
        finally:
            self.close()
            if pending is not None:  # a withdrawn answer ends in Cancelled, which nobody waits for
                pending.add_done_callback(lambda future: future.cancelled() or future.exception())

    def close(self) -> None:
        """Stop the model at its next candidate and give the queue place back; safe to call twice."""
        self.cancel.set()
        self._stack.close()
