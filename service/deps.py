"""Dependencies shared by the routes: the runtime, and the API key check."""

from __future__ import annotations

import secrets

from fastapi import Header, Request

from rag.errors import Unauthorized
from service.runtime import Runtime


async def get_runtime(request: Request) -> Runtime:  # async: no thread hop, even under load
    return request.app.state.runtime


async def require_api_key(request: Request, authorization: str | None = Header(default=None)) -> None:
    key = request.app.state.runtime.settings.api_key
    if key is None:
        return
    expected = f"Bearer {key.get_secret_value()}"
    if authorization is None or not secrets.compare_digest(authorization.encode(), expected.encode()):
        raise Unauthorized("missing or wrong API key: send 'Authorization: Bearer <key>'")
