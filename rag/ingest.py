"""From an article file to clean text and sentence-aware chunks with char offsets and content-hash ids."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path

from rag.errors import IngestError
from rag.text import Span, sentence_spans
from rag.timescope import Period, sentence_periods

_DATE_HEADER = re.compile(r"\A\s*date\s+(\S+)[ \t]*")

# Web boilerplate: (kind, pattern). Patterns run in order over the text; a match is cut out and recorded.
BOILERPLATE: list[tuple[str, re.Pattern[str]]] = [
    ("video playlist", re.compile(r"^.*\bVideoplaylist\b.*$\n?(?:^\d{1,2}:\d\d\S.*$\n?)*", re.MULTILINE)),
    ("video playlist", re.compile(r"^\d{1,2}:\d\d(?=\S).*$\n?", re.MULTILINE)),
    ("video teaser", re.compile(r"^Im Video:.*$\n?", re.MULTILINE)),
    ("reading tip", re.compile(r"^Lese-Tipp:.*$\n?", re.MULTILINE)),
    ("error report", re.compile(r"Fehler gefunden\?\s*Jetzt melden\.?")),
    (
        "promotion",
        re.compile(
            r"^[^\n]*\b(?:Jahresabos?|gratis ausprobieren|Jetzt abonnieren|bereits Abonnent)\b[^\n]*$\n?", re.MULTILINE
        ),
    ),
    ("photo credit", re.compile(r"[ \t]*Foto:[^\n]*")),
    (
        "agency byline",
        re.compile(
            r"^[A-Z]{2,5}(?:/[A-Za-z]{2,6})*[ \t]*$\n?|[ \t]*\([a-z]{2,8}(?:/[a-z]{2,8})+\)[ \t]*$", re.MULTILINE
        ),
    ),
]


@dataclass(frozen=True)
class Removed:
    kind: str
    text: str


@dataclass
class Article:
    doc_id: str
    source: str
    text: str
    date: Period | None = None
    removed: list[Removed] = field(default_factory=list)

    @property
    def content_hash(self) -> str:
        return _hash(str(self.date), self.text)


@dataclass(frozen=True)
class Chunk:
    id: str
    doc_id: str
    text: str
    start: int
    end: int
    date: Period | None
    sentences: tuple[Span, ...]  # offsets into the document text
    time_keys: frozenset[str]  # every period the chunk speaks of, e.g. "t_2021", "t_2021_12"


def parse_article(raw: str, doc_id: str, source: str | None = None, date: str | None = None) -> Article:
    """Read the optional ` date YYYY-MM` header, strip boilerplate and keep a record of what went."""
    if not raw.strip():
        raise IngestError(f"article {doc_id!r} is empty")
    header = _DATE_HEADER.match(raw)
    if header:
        date = date or header.group(1)
        raw = raw[header.end() :]
    period = Period.parse(date)
    if date and period is None:
        raise IngestError(f"article {doc_id!r} has an unreadable date {date!r}; expected YYYY-MM")
    text, removed = strip_boilerplate(raw)
    if not text:
        raise IngestError(f"article {doc_id!r} has no text left after removing boilerplate")
    return Article(doc_id=doc_id, source=source or f"{doc_id}.txt", text=text, date=period, removed=removed)


def read_article(path: Path) -> Article:
    try:
        raw = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise IngestError(f"{path.name} is not UTF-8 text") from exc
    return parse_article(raw, doc_id=path.stem, source=path.name)


def strip_boilerplate(raw: str) -> tuple[str, list[Removed]]:
    text = raw.replace("\r\n", "\n")
    removed: list[Removed] = []
    for kind, pattern in BOILERPLATE:
        for match in pattern.finditer(text):
            if match.group(0).strip():
                removed.append(Removed(kind, match.group(0).strip()))
        text = pattern.sub("", text)
    text = re.sub(r"[ \t]+\n", "\n", text)
    text = re.sub(r"[ \t]{2,}", " ", text)
    text = re.sub(r"\n{3,}", "\n\n", text)
    return text.strip(), removed


def chunk_article(article: Article, max_chars: int = 700, overlap_sentences: int = 1) -> list[Chunk]:
    """Pack whole sentences into chunks of at most `max_chars` (a longer sentence stands alone)."""
    sentences = sentence_spans(article.text)
    chunks: list[Chunk] = []
    first = 0
    while first < len(sentences):
        last = first
        while last + 1 < len(sentences) and sentences[last + 1].end - sentences[first].start <= max_chars:
            last += 1
        chunks.append(_make_chunk(article, sentences[first : last + 1]))
        if last + 1 >= len(sentences):
            break
        first = max(last + 1 - overlap_sentences, first + 1)
    return chunks


def _make_chunk(article: Article, sentences: list[Span]) -> Chunk:
    start, end = sentences[0].start, sentences[-1].end
    text = article.text[start:end]
    times: set[Period] = {article.date} if article.date else set()
    for span in sentences:
        times |= sentence_periods(article.text[span.start : span.end], article.date)
    return Chunk(
        id=_hash(article.doc_id, str(start), str(article.date), text),
        doc_id=article.doc_id,
        text=text,
        start=start,
        end=end,
        date=article.date,
        sentences=tuple(sentences),
        time_keys=frozenset(key for period in times for key in period.keys),
    )


def _hash(*parts: str) -> str:
    return hashlib.sha256("\x1f".join(parts).encode("utf-8")).hexdigest()[:16]
