"""`rag serve-model`: the language model on its own server, for API replicas that share it (RAG_LLM_URL).

One request scores every candidate of a question: `POST /v1/score` is `Generator.logprobs` over HTTP, so the
prompt is evaluated once and each candidate reuses its cache, as in-process.
"""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, ConfigDict, Field

from rag.llm import Generator
from service.app import add_error_handlers

MAX_PROMPT_CHARS = 64_000
MAX_CONTINUATIONS = 64


class ScoreRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    prompt: str = Field(min_length=1, max_length=MAX_PROMPT_CHARS)
    continuations: list[str] = Field(max_length=MAX_CONTINUATIONS)


class ScoreResponse(BaseModel):
    model: str
    logprobs: list[list[float]]  # per continuation, the log-probability of each of its tokens


def create_model_app(generator: Generator) -> FastAPI:
    app = FastAPI(title="Nachrichten-QA model", version="0.1.0")
    add_error_handlers(app)

    @app.get("/health")
    async def health() -> dict:
        return {"status": "ok"}

    @app.get("/v1/models")
    async def models() -> dict:
        return {"object": "list", "data": [{"id": generator.name, "object": "model", "owned_by": "local"}]}

    @app.post("/v1/score", response_model=ScoreResponse)
    async def score(body: ScoreRequest) -> ScoreResponse:
        logprobs = await run_in_threadpool(generator.logprobs, body.prompt, body.continuations)
        return ScoreResponse(model=generator.name, logprobs=logprobs)

    return app
