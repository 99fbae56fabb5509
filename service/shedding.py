"""Load shedding at the edge: when the model's queue is full, a question is turned away before its body is read,
parsed or validated, so that a burst of surplus questions costs the event loop next to nothing and each one gets
its 503 within milliseconds. The route's own admission stays the authority; this only skips the work before it."""

from __future__ import annotations

import json

from starlette.types import ASGIApp, Receive, Scope, Send

from service.runtime import Runtime

QUESTION_ROUTES = frozenset({"/v1/ask", "/v1/chat/completions"})  # the routes that queue for the model
BODY = json.dumps({"error": "too many questions are waiting; try again shortly"}).encode()


class ShedWhenFull:
    def __init__(self, app: ASGIApp, runtime: Runtime) -> None:
        self.app = app
        self.runtime = runtime

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] == "http"
            and scope["method"] == "POST"
            and scope["path"].rstrip("/") in QUESTION_ROUTES
            and self.runtime.full()
        ):
            headers = [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(BODY)).encode()),
                (b"retry-after", b"1"),
                (b"connection", b"close"),  # the body was never read: the connection cannot carry another request
            ]
            await send({"type": "http.response.start", "status": 503, "headers": headers})
            await send({"type": "http.response.body", "body": BODY})
            return
        await self.app(scope, receive, send)
