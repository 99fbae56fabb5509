"""Request and response models of the HTTP API: separate from the library's types, strict on input."""

from __future__ import annotations

import unicodedata
from typing import Annotated

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, ValidationInfo, field_validator

from rag.answer import Answer
from rag.ingest import CONTROL_TOKEN, DOC_ID
from rag.settings import MAX_QUESTION_CHARS, MAX_TOP_K
from rag.timescope import Period


def clean_query(value: str) -> str:
    """A question as text the service can read: refused when it is not text (a lone surrogate, NUL or another
    control character) or blank; normalised (NFC), without invisible format characters (zero-width, bidi controls,
    soft hyphens) and model control tokens, stripped."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("must be text: it holds a lone surrogate") from None
    if any(unicodedata.category(ch) == "Cc" and not ch.isspace() for ch in value):
        raise ValueError("must not hold control characters such as NUL")
    text = "".join(ch for ch in unicodedata.normalize("NFC", value) if unicodedata.category(ch) != "Cf")
    text = CONTROL_TOKEN.sub(" ", text).strip()
    if not text:
        raise ValueError("must not be blank")
    return text


# A question or search query: 1..MAX_QUESTION_CHARS characters of text, not only white space; stored cleaned.
QueryText = Annotated[str, Field(min_length=1, max_length=MAX_QUESTION_CHARS), AfterValidator(clean_query)]
# strict: JSON's true is not the number 1, nor "yes" a boolean
STRICT_INPUT = ConfigDict(extra="forbid", strict=True)


def _json_integer(value: object) -> object:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError("must be an integer")
    return value


# JSON's integers, 5 or 5.0 (JSON Schema counts both), never true or "5"; 5.5 is refused by the int itself
JsonInt = Annotated[int, BeforeValidator(_json_integer), Field(strict=False)]


class AskRequest(BaseModel):
    model_config = STRICT_INPUT | ConfigDict(
        json_schema_extra={"examples": [{"question": "Wo trafen sich Blinken und Lawrow 2022?", "top_k": 5}]},
    )

    question: QueryText = Field(description="A question in German or English; not blank, no control characters")
    top_k: JsonInt = Field(default=5, ge=1, le=MAX_TOP_K, description="How many passages to retrieve")
    stream: bool = Field(default=False, description="answer as Server-Sent Events: passages, answer, citations")


class CitationModel(BaseModel):
    n: int
    doc_id: str
    source: str
    date: str | None
    quote: str = Field(description="Verbatim slice of the stored document text: text[char_start:char_end]")
    char_start: int
    char_end: int

    @classmethod
    def from_answer(cls, answer: Answer) -> list[CitationModel]:
        return [cls(**vars(c)) for c in answer.citations]


class AskResponse(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "answer": "Genf [1].",
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
                    "reason": None,
                }
            ]
        }
    )

    answer: str
    abstained: bool
    citations: list[CitationModel]
    timings_ms: dict[str, int]
    reason: str | None = None  # why it abstained ("weak evidence …"); null for an answer

    @classmethod
    def from_answer(cls, answer: Answer) -> AskResponse:
        return cls(
            answer=answer.answer,
            abstained=answer.abstained,
            citations=CitationModel.from_answer(answer),
            timings_ms=answer.timings_ms,
            reason=answer.reason,
        )


class ErrorResponse(BaseModel):
    error: str
    detail: list[dict] | None = None


class Health(BaseModel):
    status: str
    questions_in_flight: int = Field(0, description="questions holding a place in the model's queue")
    model_busy: bool = Field(False, description="whether the model is computing right now")


class Readiness(BaseModel):
    ready: bool
    model_loaded: bool
    chunks: int
    detail: str | None = None


class PassageModel(BaseModel):
    doc_id: str
    source: str
    date: str | None
    text: str
    char_start: int
    char_end: int
    score: float = Field(description="reciprocal-rank-fusion score of dense and BM25 search")
    evidence: float = Field(description="share of the question's terms its best sentence covers")

    @classmethod
    def from_passage(cls, passage) -> PassageModel:
        chunk = passage.chunk
        return cls(
            doc_id=chunk.doc_id,
            source=f"{chunk.doc_id}.txt",
            date=str(chunk.date) if chunk.date else None,
            text=chunk.text,
            char_start=chunk.start,
            char_end=chunk.end,
            score=round(passage.score, 6),
            evidence=round(passage.best_sentence, 4),
        )


YEAR_MONTH = r"^(19|20)\d\d(-(0[1-9]|1[0-2]))?$"


class SearchRequest(BaseModel):
    model_config = STRICT_INPUT | ConfigDict(
        json_schema_extra={"examples": [{"query": "Blinken Lawrow Genf", "top_k": 5, "date_from": "2022-01"}]},
    )

    query: QueryText
    top_k: JsonInt = Field(default=5, ge=1, le=MAX_TOP_K)
    date_from: str | None = Field(default=None, pattern=YEAR_MONTH, description="YYYY or YYYY-MM, inclusive")
    date_to: str | None = Field(
        default=None, pattern=YEAR_MONTH, description="YYYY or YYYY-MM, inclusive; not before date_from"
    )

    @field_validator("date_to")
    @classmethod
    def _not_before_date_from(cls, date_to: str | None, info: ValidationInfo) -> str | None:
        start, end = Period.parse(info.data.get("date_from")), Period.parse(date_to)
        if start and end and (start.year, start.month or 1) > (end.year, end.month or 12):
            raise ValueError(f"date_to {date_to} is before date_from {info.data['date_from']}")
        return date_to


class SearchResponse(BaseModel):
    passages: list[PassageModel]


DOC_ID_PATTERN = f"^{DOC_ID}$"


class DocumentIn(BaseModel):
    model_config = STRICT_INPUT | ConfigDict(
        json_schema_extra={"examples": [{"doc_id": "005_beispiel", "date": "2024-02", "text": "Blinken traf …"}]},
    )

    text: str = Field(min_length=1)
    doc_id: str | None = Field(default=None, pattern=DOC_ID_PATTERN)
    date: str | None = Field(default=None, pattern=YEAR_MONTH)


class DocumentSummary(BaseModel):
    doc_id: str
    source: str
    date: str | None
    chunks: int
    removed: dict[str, int] = Field(description="boilerplate removed at ingest, counted by kind")


class DocumentDetail(DocumentSummary):
    text: str
    removed_text: list[dict[str, str]]


class DocumentWritten(DocumentSummary):
    status: str = Field(description="added, updated or unchanged")


class DocumentList(BaseModel):
    documents: list[DocumentSummary]
