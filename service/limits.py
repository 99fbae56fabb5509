"""The request guard: every body is bounded before anything parses it, and a path with control characters refused.

A body over its route's limit gets 413 without being read (a declared Content-Length) or as soon as it passes the
limit (a chunked body). A JSON body that is not UTF-8, or is nested deeper than any request of this API, gets 422
before the framework's JSON parser sees it: Python's parser fails on deep nesting with a RecursionError.
"""

from __future__ import annotations

import json
import re

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.schemas import ErrorResponse

QUERY_BODY_BYTES = 64 * 1024  # a question or search query is at most 2,000 characters: room for JSON escapes
CHAT_BODY_BYTES = 1024 * 1024  # an OpenAI client sends the whole conversation with every question
MAX_JSON_DEPTH = 32  # the deepest request of this API (a chat message's content parts) has 5 levels

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_JSON_STRING = re.compile(r'"(?:[^"\\]++|\\.)*+"')
_NOT_A_BRACKET = re.compile(r"[^\[\]{}]++")
_INNERMOST = re.compile(r"\[\]|\{\}")


class RequestGuard:
    def __init__(self, app: ASGIApp, document_bytes: int) -> None:
        self.app = app
        self.document_bytes = document_bytes

    def limit(self, path: str) -> int:
        if path.rstrip("/") == "/v1/documents":
            return self.document_bytes
        if path.rstrip("/") == "/v1/chat/completions":
            return CHAT_BODY_BYTES
        return QUERY_BODY_BYTES

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if _CONTROL.search(scope["path"]):  # the router would read "/documents/abc\n" as "/documents/abc"
            await refuse(send, 422, "the request path (a document id?) holds control characters")
            return
        limit = self.limit(scope["path"])
        headers = {name.lower(): value for name, value in scope["headers"]}
        declared = headers.get(b"content-length", b"").strip()
        if declared and (not declared.isdigit() or int(declared) > limit):
            await refuse(send, 413, f"the request body is over the limit of {limit} bytes")
            return
        body = bytearray()
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body.extend(message.get("body", b""))
            if len(body) > limit:
                await refuse(send, 413, f"the request body is over the limit of {limit} bytes")
                return
            if not message.get("more_body", False):
                break
        content_type = headers.get(b"content-type", b"").split(b";")[0].strip().lower()
        if body and (content_type == b"application/json" or content_type.endswith(b"+json")):
            problem = json_problem(bytes(body))
            if problem:
                await refuse(send, 422, problem)
                return
        await self.app(scope, replay(bytes(body), receive), send)


def json_problem(body: bytes) -> str | None:
    """Why a JSON body cannot be parsed safely, or None (syntax errors are left to the parser's own message)."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return "the request body is not UTF-8"
    if nested_deeper_than(text, MAX_JSON_DEPTH):
        return f"the JSON body is nested deeper than {MAX_JSON_DEPTH} levels"
    return None


def nested_deeper_than(text: str, depth: int) -> bool:
    """Whether brackets nest deeper than `depth`: strings out, then the innermost pairs removed once per level."""
    brackets = _NOT_A_BRACKET.sub("", _JSON_STRING.sub("", text))
    for _ in range(depth):
        if not brackets:
            return False
        fewer = _INNERMOST.sub("", brackets)
        if fewer == brackets:  # unbalanced: malformed JSON, which the parser reports
            return False
        brackets = fewer
    return bool(brackets)


def replay(body: bytes, receive: Receive) -> Receive:
    """The body, already read, as one message; after it the client's own messages (a disconnect)."""
    sent = False

    async def next_message() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return next_message


async def refuse(send: Send, status: int, message: str) -> None:
    content = json.dumps(ErrorResponse(error=message).model_dump(exclude_none=True)).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(content)).encode())]
    if status == 413:  # the rest of the body is never read: the connection cannot be reused
        headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": content})
