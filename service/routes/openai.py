"""An OpenAI-compatible face: /v1/chat/completions (plain and streamed) and /v1/models.

The last user message is the question; the reply's content is the answer with [n] markers, and the verified
citations ride along in an extra `citations` field (on the last chunk when streaming).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator
from typing import Any, Literal

from fastapi import APIRouter, Depends, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, model_validator
from starlette.background import BackgroundTask

from rag.settings import MAX_QUESTION_CHARS
from service.deps import get_runtime
from service.runtime import Runtime
from service.schemas import STRICT_INPUT, CitationModel, JsonInt, clean_query
from service.streaming import AnswerStream, sse, stream_error, words

router = APIRouter(tags=["openai"])

MODEL_ID = "nachrichten-qa"


class ContentPart(BaseModel):
    model_config = ConfigDict(extra="allow", strict=True)  # image and audio parts carry fields of their own

    type: str
    text: str | None = None


class ChatMessage(BaseModel):
    model_config = STRICT_INPUT

    role: Literal["system", "developer", "user", "assistant", "tool", "function"]
    content: str | list[ContentPart] | None = None
    name: str | None = None
    tool_calls: list[dict[str, Any]] | None = None
    tool_call_id: str | None = None
    function_call: dict[str, Any] | None = None
    refusal: str | None = None

    @property
    def text(self) -> str:
        if isinstance(self.content, list):  # content parts: keep the text ones
            return " ".join(part.text for part in self.content if part.type == "text" and part.text)
        return self.content or ""


class ChatRequest(BaseModel):
    """OpenAI's chat completion request. The sampling options and the like are accepted and do not apply here (the
    answer is chosen among spans of the evidence); any other field is refused."""

    model_config = STRICT_INPUT

    model: str = MODEL_ID
    messages: list[ChatMessage] = Field(min_length=1)
    stream: bool = False
    temperature: float | None = None
    top_p: float | None = None
    n: JsonInt | None = None
    max_tokens: JsonInt | None = None
    max_completion_tokens: JsonInt | None = None
    stop: str | list[str] | None = None
    presence_penalty: float | None = None
    frequency_penalty: float | None = None
    logit_bias: dict[str, float] | None = None
    logprobs: bool | None = None
    top_logprobs: JsonInt | None = None
    seed: JsonInt | None = None
    user: str | None = None
    response_format: dict[str, Any] | None = None
    tools: list[dict[str, Any]] | None = None
    tool_choice: str | dict[str, Any] | None = None
    parallel_tool_calls: bool | None = None
    functions: list[dict[str, Any]] | None = None
    function_call: str | dict[str, Any] | None = None
    stream_options: dict[str, Any] | None = None
    service_tier: str | None = None
    store: bool | None = None
    metadata: dict[str, str] | None = None
    modalities: list[str] | None = None
    reasoning_effort: str | None = None
    _question: str = PrivateAttr(default="")

    @model_validator(mode="after")
    def _has_a_question(self) -> ChatRequest:
        users = [m for m in self.messages if m.role == "user"]
        text = users[-1].text.strip() if users else ""
        if not text:
            raise ValueError("messages need a user message with text")
        if len(text) > MAX_QUESTION_CHARS:
            raise ValueError(f"the last user message is over {MAX_QUESTION_CHARS} characters")
        try:
            self._question = clean_query(text)
        except ValueError as exc:
            raise ValueError(f"the last user message {exc}") from None
        return self

    @property
    def question(self) -> str:
        return self._question


class ChatChoice(BaseModel):
    index: int
    message: dict[str, str]
    finish_reason: str


class ChatCompletion(BaseModel):
    id: str
    object: Literal["chat.completion"] = "chat.completion"
    created: int
    model: str
    choices: list[ChatChoice]
    usage: dict[str, int]
    citations: list[CitationModel] = Field(description="the verified citations behind the [n] markers")
    abstained: bool


class ModelCard(BaseModel):
    id: str
    object: Literal["model"] = "model"
    created: int
    owned_by: str


class ModelList(BaseModel):
    object: Literal["list"] = "list"
    data: list[ModelCard]


CHAT_STREAM_DOC = {
    200: {
        "content": {"text/event-stream": {"example": 'data: {"object": "chat.completion.chunk", ...}\n\ndata: [DONE]\n\n'}},
        "description": "with stream=true: chat.completion.chunk events, the citations on the last, then [DONE]",
    }
}


@router.get("/models", response_model=ModelList)
def list_models() -> ModelList:
    return ModelList(data=[ModelCard(id=MODEL_ID, created=0, owned_by="local")])


@router.post("/chat/completions", response_model=ChatCompletion, responses=CHAT_STREAM_DOC)
async def chat_completions(body: ChatRequest, request: Request, runtime: Runtime = Depends(get_runtime)):
    reply_id, created = f"chatcmpl-{uuid.uuid4().hex}", int(time.time())
    if body.stream:
        stream = AnswerStream(runtime, request, body.question, runtime.settings.top_k)
        return StreamingResponse(
            _chunks(stream, reply_id, created), media_type="text/event-stream", background=BackgroundTask(stream.close)
        )
    answer = await runtime.answer(body.question, runtime.settings.top_k, request.is_disconnected)
    return ChatCompletion(
        id=reply_id,
        created=created,
        model=MODEL_ID,
        choices=[ChatChoice(index=0, message={"role": "assistant", "content": answer.answer}, finish_reason="stop")],
        usage={"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0},
        citations=CitationModel.from_answer(answer),
        abstained=answer.abstained,
    )


async def _chunks(stream: AnswerStream, reply_id: str, created: int) -> AsyncIterator[str]:
    def chunk(delta: dict, finish: str | None = None, **extra) -> str:
        choice = {"index": 0, "delta": delta, "finish_reason": finish}
        body = {"id": reply_id, "object": "chat.completion.chunk", "created": created, "model": MODEL_ID}
        return sse(None, body | {"choices": [choice]} | extra)

    yield chunk({"role": "assistant", "content": ""})
    try:
        async for kind, value in stream.events():
            if kind != "answer":
                continue
            for piece in words(value.answer):
                yield chunk({"content": piece})
            citations = [c.model_dump() for c in CitationModel.from_answer(value)]
            yield chunk({}, "stop", citations=citations, abstained=value.abstained)
    except Exception as exc:  # the 200 is out: the failure comes as an error payload, as OpenAI's streams send it
        yield sse(None, {"error": stream_error(exc)})
    yield sse(None, "[DONE]")
