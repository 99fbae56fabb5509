"""The HTTP adapter: thin routes over the rag library, errors mapped to status codes in one place."""

from __future__ import annotations

import logging
import re
from contextlib import asynccontextmanager

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from rag.errors import (
    Cancelled,
    DocumentNotFound,
    GenerationTimeout,
    IngestError,
    ModelFailed,
    NotReady,
    Overloaded,
    RagError,
    StoreLocked,
    StoreUnavailable,
    TooLarge,
    Unauthorized,
)
from rag.settings import Settings
from service.deps import require_api_key
from service.limits import RequestGuard
from service.routes import documents, openai, qa
from service.runtime import Runtime
from service.schemas import ErrorResponse, Health, Readiness
from service.shedding import ShedWhenFull

log = logging.getLogger("rag.service")

STATUS_BY_ERROR: dict[type[RagError], int] = {
    Unauthorized: 401,
    DocumentNotFound: 404,
    StoreLocked: 409,
    TooLarge: 413,
    IngestError: 422,
    Cancelled: 499,
    Overloaded: 503,
    NotReady: 503,
    StoreUnavailable: 503,
    ModelFailed: 503,
    GenerationTimeout: 504,
}
ERROR_RESPONSES = {status: {"model": ErrorResponse} for status in (401, 404, 413, 422, 503, 504)}


def status_of(exc: RagError) -> int:
    return next((s for cls, s in STATUS_BY_ERROR.items() if isinstance(exc, cls)), 500)


def create_app(settings: Settings | None = None, runtime: Runtime | None = None) -> FastAPI:
    settings = settings or Settings()
    runtime = runtime or Runtime(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        runtime.start()
        try:
            yield
        finally:
            runtime.stop()

    app = FastAPI(
        title="Nachrichten-QA",
        version="0.1.0",
        summary="Grounded answers over German news articles, with verbatim citations.",
        lifespan=lifespan,
    )
    app.state.runtime = runtime
    app.add_middleware(RequestGuard, document_bytes=settings.max_document_bytes)
    app.add_middleware(ShedWhenFull, runtime=runtime)  # outermost: a surplus question is refused before it is read
    add_error_handlers(app)

    @app.get("/health", response_model=Health, tags=["ops"])
    async def health() -> Health:  # on the event loop: it answers while every worker thread is busy
        return Health(status="ok", **runtime.load())

    @app.get("/ready", response_model=Readiness, tags=["ops"], responses={503: {"model": Readiness}})
    def ready() -> JSONResponse:
        is_ready, chunks, detail = runtime.readiness()
        body = Readiness(ready=is_ready, model_loaded=runtime.answerer is not None, chunks=chunks, detail=detail)
        return JSONResponse(body.model_dump(), status_code=200 if is_ready else 503)

    v1 = APIRouter(prefix="/v1", dependencies=[Depends(require_api_key)], responses=ERROR_RESPONSES)
    for module in (qa, documents, openai):
        v1.include_router(module.router)
    app.include_router(v1)
    return app


def add_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(RagError)
    async def rag_error(request: Request, exc: RagError) -> JSONResponse:
        status = status_of(exc)
        headers = {"Retry-After": "1"} if status == 503 else {"WWW-Authenticate": "Bearer"} if status == 401 else None
        return JSONResponse(ErrorResponse(error=str(exc)).model_dump(exclude_none=True), status, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        detail = [
            {"loc": list(e.get("loc", ())), "msg": e.get("msg", ""), "type": e.get("type", "")} for e in exc.errors()
        ]
        names = ", ".join(_name(d) for d in detail)
        return JSONResponse(ErrorResponse(error=f"invalid request: {names}", detail=detail).model_dump(), 422)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> JSONResponse:
        # the framework's own refusals (no such route, wrong method, a body it cannot read) in the same shape
        error = exc.detail if isinstance(exc.detail, str) else "invalid request"
        headers = exc.headers
        if exc.status_code == 405 and (allowed := _documented_methods(request.app, request.url.path)):
            headers = {**(headers or {}), "Allow": ", ".join(allowed)}  # all of the path's routes, not the first's
        return JSONResponse(ErrorResponse(error=error).model_dump(exclude_none=True), exc.status_code, headers)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        # the traceback goes to the log, never to the client
        log.exception("unhandled error on %s", request.url.path)
        return JSONResponse(ErrorResponse(error="internal error").model_dump(exclude_none=True), 500)


def _name(error: dict) -> str:
    """A validation error by the field it is in, or by its message when it concerns the whole body."""
    if error["type"] == "json_invalid":
        return f"malformed JSON ({error['msg']})"
    return ".".join(str(p) for p in error["loc"][1:]) or error["msg"].removeprefix("Value error, ")


def _documented_methods(app: FastAPI, path: str) -> list[str]:
    """The methods the OpenAPI schema documents for a request path ({doc_id} may hold any characters)."""
    methods: set[str] = set()
    for template, operations in app.openapi()["paths"].items():
        if re.fullmatch(re.sub(r"\\\{\w+\\\}", ".+", re.escape(template)), path):
            methods |= {method.upper() for method in operations if method != "parameters"}
    return sorted(methods)
