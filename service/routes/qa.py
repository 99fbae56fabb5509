"""/v1/ask and /v1/search."""

from __future__ import annotations

from collections.abc import AsyncIterator

from fastapi import APIRouter, Depends, Request
from fastapi.responses import StreamingResponse
from starlette.background import BackgroundTask

from rag.timescope import DateRange, Period
from service.deps import get_runtime
from service.runtime import Runtime
from service.schemas import (
    AskRequest,
    AskResponse,
    CitationModel,
    PassageModel,
    SearchRequest,
    SearchResponse,
)
from service.streaming import AnswerStream, sse, stream_error, words

router = APIRouter(tags=["qa"])

STREAM_DOC = {
    200: {
        "content": {
            "text/event-stream": {
                "example": 'event: passages\ndata: [...]\n\nevent: answer\ndata: {"delta": "In "}\n\n'
            }
        },
        "description": "with stream=true: events passages, answer (deltas), citations, done",
    }
}


@router.post("/ask", response_model=AskResponse, responses=STREAM_DOC)
async def ask(body: AskRequest, request: Request, runtime: Runtime = Depends(get_runtime)):
    """Answer a question from the articles, citing the exact words it relies on, or abstain."""
    if body.stream:
        stream = AnswerStream(runtime, request, body.question, body.top_k)
        return StreamingResponse(
            _ask_events(stream), media_type="text/event-stream", background=BackgroundTask(stream.close)
        )
    return AskResponse.from_answer(await runtime.answer(body.question, body.top_k, request.is_disconnected))


async def _ask_events(stream: AnswerStream) -> AsyncIterator[str]:
    try:
        async for kind, value in stream.events():
            if kind == "passages":
                yield sse("passages", [PassageModel.from_passage(p).model_dump() for p in value.passages])
                continue
            for piece in words(value.answer):
                yield sse("answer", {"delta": piece})
            yield sse("citations", [c.model_dump() for c in CitationModel.from_answer(value)])
            yield sse("done", {"abstained": value.abstained, "reason": value.reason, "timings_ms": value.timings_ms})
    except Exception as exc:  # the 200 is out: the failure (504 past the deadline, 503 ...) becomes an event
        yield sse("error", stream_error(exc))


@router.post("/search", response_model=SearchResponse)
def search(body: SearchRequest, runtime: Runtime = Depends(get_runtime)) -> SearchResponse:
    """Ranked passages with scores, dates and offsets; no generation, so no place in the model's queue."""
    first, last = Period.parse(body.date_from), Period.parse(body.date_to)
    dated = DateRange(first, last) if first or last else None
    passages = runtime.loaded().search(body.query, body.top_k, dated)
    return SearchResponse(passages=[PassageModel.from_passage(p) for p in passages])
