"""An OpenAI-compatible face: /v1/chat/completions (plain and streamed) and /v1/models.

The last user message is the question; the reply's content is the answer with [n] markers, and the verified
citations ride along in an extra `citations` field (on the last chunk when streaming).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator

from fastapi import APIRouter, Depends, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field, model_validator
from starlette.background import BackgroundTask

from rag.settings import MAX_QUESTION_CHARS
from service.deps import get_runtime
from service.runtime import Runtime
from service.schemas import CitationModel
from service.streaming import AnswerStream, sse, words

router = APIRouter(tags=["openai"])

MODEL_ID = "nachrichten-qa"


class ChatMessage(BaseModel):
    role: str
    content: str | list[dict] | None = None

    @property
    def text(self) -> str:
        if isinstance(self.content, list):  # content parts: keep the text ones
            return " ".join(part.get("text", "") for part in self.content if part.get("type") == "text")
        return self.content or ""


class ChatRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")  # sampling options and the like do not apply here

    model: str = MODEL_ID
    messages: list[ChatMessage] = Field(min_length=1)
    stream: bool = False

    @model_validator(mode="after")
    def _has_a_question(self) -> ChatRequest:
        question = self.question
        if not question:
            raise ValueError("messages need a user message with text")
        if len(question) > MAX_QUESTION_CHARS:
            raise ValueError(f"the last user message is over {MAX_QUESTION_CHARS} characters")
        return self

    @property
    def question(self) -> str:
        users = [m for m in self.messages if m.role == "user"]
        return users[-1].text.strip() if users else ""


@router.get("/models")
def list_models() -> dict:
    return {"object": "list", "data": [{"id": MODEL_ID, "object": "model", "created": 0, "owned_by": "local"}]}


@router.post("/chat/completions")
def chat_completions(body: ChatRequest, request: Request, runtime: Runtime = Depends(get_runtime)):
    reply_id, created = f"chatcmpl-{uuid.uuid4().hex}", int(time.time())
    if body.stream:
        stream = AnswerStream(runtime, request, body.question, runtime.settings.top_k)
        return StreamingResponse(
            _chunks(stream, reply_id, created), media_type="text/event-stream", background=BackgroundTask(stream.close)
        )
    answer = runtime.ask(body.question, runtime.settings.top_k)
    return {
        "id": reply_id,
        "object": "chat.completion",
        "created": created,
        "model": MODEL_ID,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": answer.answer}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0},
        "citations": [c.model_dump() for c in CitationModel.from_answer(answer)],
        "abstained": answer.abstained,
    }


async def _chunks(stream: AnswerStream, reply_id: str, created: int) -> AsyncIterator[str]:
    def chunk(delta: dict, finish: str | None = None, **extra) -> str:
        choice = {"index": 0, "delta": delta, "finish_reason": finish}
        body = {"id": reply_id, "object": "chat.completion.chunk", "created": created, "model": MODEL_ID}
        return sse(None, body | {"choices": [choice]} | extra)

    yield chunk({"role": "assistant", "content": ""})
    async for kind, value in stream.events():
        if kind != "answer":
            continue
        for piece in words(value.answer):
            yield chunk({"content": piece})
        citations = [c.model_dump() for c in CitationModel.from_answer(value)]
        yield chunk({}, "stop", citations=citations, abstained=value.abstained)
    yield sse(None, "[DONE]")
