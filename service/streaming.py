"""Answering while a client waits on a stream: the question's work runs in the runtime's workers, stops if the
client goes, and a failure after the stream has begun is sent as an event instead of a broken connection."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import AsyncIterator

from fastapi import Request

from rag.answer import Answer
from rag.errors import RagError
from rag.retrieve import Retrieval
from service.runtime import Runtime

log = logging.getLogger("rag.service")


def sse(event: str | None, data: object) -> str:
    """One Server-Sent Event."""
    payload = data if isinstance(data, str) else json.dumps(data, ensure_ascii=False)
    return (f"event: {event}\n" if event else "") + f"data: {payload}\n\n"


def words(text: str) -> list[str]:
    """The answer in pieces as it is sent: each word with the space after it."""
    return re.findall(r"\S+\s*", text)


def stream_error(exc: BaseException) -> dict:
    """What a stream sends when its question fails after the 200 went out: the error and the status it would
    have had (504 past the deadline, 503 when the model failed); never a traceback."""
    from service.app import status_of  # the one status mapping; imported here because the app imports the routes

    if not isinstance(exc, RagError):
        log.error("unhandled error in a stream", exc_info=exc)
        return {"error": "internal error", "status": 500}
    return {"error": str(exc), "status": status_of(exc)}


class AnswerStream:
    """Takes a place in the model's queue at once (so a full queue is a plain 503), then yields
    ("passages", Retrieval) and ("answer", Answer) as they are ready."""

    def __init__(self, runtime: Runtime, request: Request, question: str, top_k: int) -> None:
        self.inquiry = runtime.admit(question, top_k)
        self.request = request

    async def events(self) -> AsyncIterator[tuple[str, Retrieval | Answer]]:
        try:
            retrieval = await self.inquiry.retrieve(self.request.is_disconnected)
            yield "passages", retrieval
            yield "answer", await self.inquiry.answer(retrieval, self.request.is_disconnected)
        finally:
            self.close()

    def close(self) -> None:
        """Withdraw the question (the model stops at its next candidate); safe to call twice."""
        self.inquiry.close()
