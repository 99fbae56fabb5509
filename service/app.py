"""The HTTP adapter: thin routes over the rag library, errors mapped to status codes in one place."""

from __future__ import annotations

import logging
from contextlib import asynccontextmanager

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from rag.errors import (
    Cancelled,
    DocumentNotFound,
    IngestError,
    NotReady,
    Overloaded,
    RagError,
    StoreLocked,
    TooLarge,
    Unauthorized,
)
from rag.settings import Settings
from service.deps import require_api_key
from service.routes import documents, openai, qa
from service.runtime import Runtime
from service.schemas import ErrorResponse, Health, Readiness

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
}
ERROR_RESPONSES = {status: {"model": ErrorResponse} for status in (401, 404, 413, 422, 503)}


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
    _add_error_handlers(app)

    @app.get("/health", response_model=Health, tags=["ops"])
    def health() -> Health:
        return Health(status="ok")

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


def _add_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(RagError)
    async def rag_error(request: Request, exc: RagError) -> JSONResponse:
        status = next((s for cls, s in STATUS_BY_ERROR.items() if isinstance(exc, cls)), 500)
        headers = {"Retry-After": "1"} if status == 503 else {"WWW-Authenticate": "Bearer"} if status == 401 else None
        return JSONResponse(ErrorResponse(error=str(exc)).model_dump(exclude_none=True), status, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        detail = [
            {"loc": list(e.get("loc", ())), "msg": e.get("msg", ""), "type": e.get("type", "")} for e in exc.errors()
        ]
        names = ", ".join(".".join(str(p) for p in d["loc"][1:]) or "body" for d in detail)
        return JSONResponse(ErrorResponse(error=f"invalid request: {names}", detail=detail).model_dump(), 422)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        # the traceback goes to the log, never to the client
        log.exception("unhandled error on %s", request.url.path)
        return JSONResponse(ErrorResponse(error="internal error").model_dump(exclude_none=True), 500)
