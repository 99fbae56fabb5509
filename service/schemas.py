"""Request and response models of the HTTP API: separate from the library's types, strict on input."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator

from rag.answer import Answer

MAX_QUESTION_CHARS = 2000


class AskRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"question": "Wo trafen sich Blinken und Lawrow 2022?", "top_k": 5}]},
    )

    question: str = Field(min_length=1, max_length=MAX_QUESTION_CHARS, description="A question in German or English")
    top_k: int = Field(default=5, ge=1, le=20, description="How many passages to retrieve")

    @field_validator("question")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("question must not be blank")
        return value.strip()


class CitationModel(BaseModel):
    n: int
    doc_id: str
    source: str
    date: str | None
    quote: str = Field(description="Verbatim slice of the stored document text: text[char_start:char_end]")
    char_start: int
    char_end: int


class AskResponse(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "answer": "In Genf [1].",
                    "abstained": False,
                    "citations": [
                        {
                            "n": 1,
                            "doc_id": "002_606d4c18b25b7e8e",
                            "source": "002_606d4c18b25b7e8e.txt",
                            "date": "2022-01",
                            "quote": "US-Aussenminister Antony Blinken plant … am Freitag in Genf.",
                            "char_start": 312,
                            "char_end": 420,
                        }
                    ],
                    "timings_ms": {"retrieve": 12, "generate": 640, "total": 670},
                }
            ]
        }
    )

    answer: str
    abstained: bool
    citations: list[CitationModel]
    timings_ms: dict[str, int]

    @classmethod
    def from_answer(cls, answer: Answer) -> "AskResponse":
        return cls(
            answer=answer.answer,
            abstained=answer.abstained,
            citations=[CitationModel(**vars(c)) for c in answer.citations],
            timings_ms=answer.timings_ms,
        )


class ErrorResponse(BaseModel):
    error: str
    detail: list[dict] | None = None


class Health(BaseModel):
    status: str


class Readiness(BaseModel):
    ready: bool
    model_loaded: bool
    chunks: int
    detail: str | None = None
