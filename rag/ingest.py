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

# A document id: the article's file name without ".txt", or the id given to the documents API. Letters, digits,
# "_", "." and "-", a letter or digit first: never a path ("/", ".."), a control character or only dots.
DOC_ID = r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}"
_DOC_ID = re.compile(DOC_ID)
# C0 control characters other than white space, and DEL: a file that holds them is binary, not an article
_BINARY = re.compile(r"[\x00-\x08\x0e-\x1f\x7f]")

# Model control tokens (ChatML and Llama 3 "<|im_start|>", DeepSeek "<｜…｜>", Gemma "<start_of_turn>", Llama 2
# "[INST]" and "<<SYS>>", sentence markers): they have no place in a news article, and a tokeniser that parses
# them would read an article as a turn of the conversation
CONTROL_TOKEN = re.compile(
    r"<\|[^|<>\s]{1,40}\|>|<｜[^｜<>\s]{1,40}｜>|</?(?:start|end)_of_[a-z_]{1,20}>|</?s>|<(?:bos|eos|pad|unk|mask)>"
    r"|\[/?INST\]|<</?SYS>>"
)
# Markup that a client would render: Markdown images and links, their reference definitions, HTML <img> and <a>.
# Only the words stay (a link's or an image's text); what went is recorded as its target, never as markup
_LINK_TEXT = r"\[(?P<text>(?:[^\[\]\n]|\n(?!\s*\n)|\[[^\[\]\n]*\]){0,500})\]"
_LINK_TARGET = r"\(\s*<?(?P<url>[^\s()<>]*(?:\([^\s()]*\)[^\s()<>]*)*)>?(?:\s+(?:\"[^\"\n]*\"|'[^'\n]*'))?\s*\)"
_ATTRIBUTE = r"""(?:[^>"']|"[^"]*"|'[^']*')*"""
_SOURCE = r"""(?=(?:[^>]*?\b(?:src|href)\s*=\s*["']?(?P<url>[^"'\s>]*))?)"""
MARKUP: list[tuple[str | None, re.Pattern[str], str]] = [  # (kind recorded, or None; pattern; replacement)
    ("image", re.compile(rf"!{_LINK_TEXT}{_LINK_TARGET}"), r"\g<text>"),
    ("image", re.compile(rf"<img\b{_SOURCE}{_ATTRIBUTE}>", re.IGNORECASE), " "),
    ("link target", re.compile(rf"{_LINK_TEXT}{_LINK_TARGET}"), r"\g<text>"),
    ("link target", re.compile(r"^[ \t]{0,3}\[[^\[\]\n]{1,200}\]:[ \t]*(?P<url>\S+).*$\n?", re.MULTILINE), ""),
    ("link target", re.compile(rf"<a\b{_SOURCE}{_ATTRIBUTE}>", re.IGNORECASE), ""),
    (None, re.compile(r"</a\s*>", re.IGNORECASE), ""),
    ("link target", re.compile(r"<(?P<url>(?:https?|ftp|mailto|javascript|data):[^<>\s]*)>", re.IGNORECASE), " "),
    ("control token", CONTROL_TOKEN, " "),
]

# Web boilerplate: (kind, pattern). Patterns run in order over the text; a match is cut out and recorded.
# A match is the furniture only. Where ordinary sentences follow it on the same line, a title, teaser, credit or
# call to subscribe ends at its own closing punctuation ("!", "?", ".", a closing quote or bracket) and the
# sentences stay. What follows counts as a sentence when it starts like one and ends in a full stop: headlines end
# in "!", "?" or nothing, so a two-part title such as "Publikum tobt! Hier wird X zum Sänger" stays one piece.
_CLOSE = "[\"'»«“”’]*"
_SENTENCE_END = rf"[.!?…]+{_CLOSE}(?=[ \t]|$)"
_IN_SENTENCE = rf"(?:[^\n.!?…]|(?!{_SENTENCE_END})[.!?…])"  # a character short of a sentence end
_FULL_STOP = rf"(?:(?<=[^\W\d_])\.{_CLOSE}(?=[ \t]|$)|\.{_CLOSE}[ \t]*$)"
# the gap before ordinary sentences: the next one starts like a sentence and ends in a full stop within 400
# characters ("2. Dezember" does not end it); the bound keeps a long line from being read again at every cue
_PROSE = rf"[ \t]+(?=[A-ZÄÖÜ0-9„\"“»«‚'](?>(?:{_IN_SENTENCE}|(?<=\d)\.(?=[ \t]+\S)){{0,400}}){_FULL_STOP})"
# the furniture's own closing punctuation; not the full stop of a number, an initial or a short title ("Dr.")
_CUE = (
    r"(?:(?<=[!?…)\"'»«“”’])"
    r"|(?<=\.)(?<!\d\.)(?<!(?<![^\W\d_])[^\W\d_]\.)(?<!(?<![^\W\d_])[A-ZÄÖÜ][^\W\d_]\.))"
)
# the end of the line; the spaces before it are read from their first one only
_LINE_END = r"(?:(?<![ \t])[ \t]*)?$"
# a title or credit: the shortest text that ends the furniture; a "(...)" only whole, so "(2. Dezember 2021)" stays
_TITLE = r"(?:[^\n(]|\([^()\n]*\)|\((?![^()\n]*\)))*?"
# furniture at the start of a line: to the line's end (and its line break), or up to the sentences after it
_TO_LINE_END = rf"(?:{_LINE_END}\n?|{_CUE}{_PROSE})"
# furniture at the start of a line or after a sentence: `bol` says which; after a sentence the furniture takes
# the space before it, so it leaves the line break and the space before the sentences that follow
_START = rf"(?:^(?P<bol>)|(?:(?<=[.!?…])|(?<=[.!?…][\"'»«“”’]))[ \t]+)"
_BEFORE_PROSE = rf"{_CUE}(?(bol){_PROSE}|(?={_PROSE}))"
_TO_END = rf"(?:{_LINE_END}(?(bol)\n?)|{_BEFORE_PROSE})"
# "01:30Publikum tobt!": a video's length glued to its title ("2:10-Sieg" is none)
_PLAYLIST_ENTRY = rf"^\d{{1,2}}:\d\d(?=[^\W\d_]|[„\"“»«‚']){_TITLE}{_TO_LINE_END}"
_PROMOTION = r"\b(?:Jahresabos?|gratis ausprobieren|Jetzt abonnieren|bereits Abonnent)\b"

BOILERPLATE: list[tuple[str, re.Pattern[str]]] = [
    (
        "video playlist",  # "... finden Sie hier in der Videoplaylist" at a line's end, and the entries below it
        re.compile(
            rf"{_START}{_IN_SENTENCE}*?\bVideoplaylist\b[ \t]*:?[ \t]*(?(bol)(?:\n|\Z)(?:{_PLAYLIST_ENTRY})*|$)",
            re.MULTILINE,
        ),
    ),
    ("video playlist", re.compile(_PLAYLIST_ENTRY, re.MULTILINE)),
    ("video teaser", re.compile(rf"^Im Video:[ \t]*{_TITLE}{_TO_LINE_END}", re.MULTILINE)),
    ("reading tip", re.compile(rf"^Lese-Tipp:[ \t]*{_TITLE}{_TO_LINE_END}", re.MULTILINE)),
    ("error report", re.compile(r"Fehler gefunden\?\s*Jetzt melden\.?")),
    (
        "promotion",  # calls to subscribe, never a sentence that ends in a full stop, and the calls after them
        re.compile(
            rf"{_START}(?>{_IN_SENTENCE}*?{_PROMOTION}{_IN_SENTENCE}*)(?:[!?…]+{_CLOSE})?(?!\.){_TITLE}{_TO_END}",
            re.MULTILINE,
        ),
    ),
    (
        "photo credit",  # "Foto: Keystone (2. Dezember 2021)"; on its own line it leaves the line break
        re.compile(
            rf"(?:^(?P<bol>)|(?<![ \t])[ \t]*)Foto:[ \t]*{_TITLE}(?:{_LINE_END}|{_BEFORE_PROSE})", re.MULTILINE
        ),
    ),
    (
        "agency byline",
        re.compile(
            r"^[A-Z]{2,5}(?:/[A-Za-z]{2,6})*[ \t]*$\n?|(?<![ \t])[ \t]*\([a-z]{2,8}(?:/[a-z]{2,8})+\)[ \t]*$",
            re.MULTILINE,
        ),
    ),
]


CHUNKING_VERSION = "4"  # part of every content hash: a change in how chunks are made re-ingests every article


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
        return _hash(CHUNKING_VERSION, str(self.date), self.text)


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


def check_doc_id(doc_id: str) -> str:
    if not _DOC_ID.fullmatch(doc_id):
        raise IngestError(
            f"{doc_id[:80]!r} is not a document id: 1 to 128 letters, digits, '_', '.' or '-', a letter or digit first"
        )
    return doc_id


def parse_article(raw: str, doc_id: str, source: str | None = None, date: str | None = None) -> Article:
    """Read the optional ` date YYYY-MM` header, strip boilerplate and keep a record of what went."""
    if not raw.strip():
        raise IngestError(f"article {doc_id!r} is empty")
    if _BINARY.search(raw):
        raise IngestError(f"article {doc_id!r} holds control characters such as NUL: binary data, not text")
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


def read_article(path: Path, max_bytes: int | None = None) -> Article:
    """The article in a file; its name without ".txt" is its id. Refused: a bad id, more than `max_bytes`, not
    UTF-8, binary or empty."""
    doc_id = check_doc_id(path.stem)
    try:
        if max_bytes is not None and path.stat().st_size > max_bytes:
            raise IngestError(f"{path.name} is over the limit of {max_bytes} bytes")
        raw = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise IngestError(f"{path.name} is not UTF-8 text") from exc
    except OSError as exc:
        raise IngestError(f"{path.name} cannot be read: {exc.strerror}") from exc
    return parse_article(raw, doc_id=doc_id, source=path.name)


def strip_boilerplate(raw: str) -> tuple[str, list[Removed]]:
    text, removed = strip_markup(raw.replace("\r\n", "\n"))
    for kind, pattern in BOILERPLATE:
        for match in pattern.finditer(text):
            if match.group(0).strip():
                removed.append(Removed(kind, match.group(0).strip()))
        text = pattern.sub("", text)
    text = re.sub(r"(?<![ \t])[ \t]+\n", "\n", text)  # a run of spaces is read from its first one only
    text = re.sub(r"[ \t]{2,}", " ", text)
    text = re.sub(r"\n{3,}", "\n\n", text)
    return text.strip(), removed


def strip_markup(text: str) -> tuple[str, list[Removed]]:
    """Text as plain text: images and control tokens out, links reduced to their text (see MARKUP)."""
    removed: list[Removed] = []

    def cut(kind: str | None, replacement: str):
        def replace(match: re.Match[str]) -> str:
            if kind is not None:
                removed.append(Removed(kind, match.groupdict().get("url") or match.group(0).strip()))
            return match.expand(replacement)

        return replace

    for _ in range(3):  # markup inside a link's text ("[![x](a)](b)") is reached on the next pass
        before = text
        for kind, pattern, replacement in MARKUP:
            text = pattern.sub(cut(kind, replacement), text)
        if text == before:
            break
    return text, removed


def chunk_article(article: Article, max_chars: int = 700, overlap_sentences: int = 1) -> list[Chunk]:
    """Pack whole sentences into chunks of at most `max_chars` (a longer sentence stands alone)."""
    sentences = sentence_spans(article.text)
    # an undated article has no date to read its sentences against: each chunk is filed under every period it names
    named_in_article = set() if article.date else _periods(article, sentences)
    chunks: list[Chunk] = []
    first = 0
    while first < len(sentences):
        last = first
        while last + 1 < len(sentences) and sentences[last + 1].end - sentences[first].start <= max_chars:
            last += 1
        chunks.append(_make_chunk(article, sentences[first : last + 1], named_in_article))
        if last + 1 >= len(sentences):
            break
        first = max(last + 1 - overlap_sentences, first + 1)
    return chunks


def _periods(article: Article, sentences: list[Span]) -> set[Period]:
    return set().union(*(sentence_periods(article.text[s.start : s.end], article.date) for s in sentences))


def _make_chunk(article: Article, sentences: list[Span], named_in_article: set[Period]) -> Chunk:
    start, end = sentences[0].start, sentences[-1].end
    text = article.text[start:end]
    times = {article.date} | _periods(article, sentences) if article.date else named_in_article
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
