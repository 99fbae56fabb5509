"""Language helpers for German text: sentence spans, spelling folding and lemmatised, stemmed search terms."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from functools import lru_cache

import simplemma
import Stemmer

from rag.german import ORDINAL, tag
from rag.lexicon import STOPWORDS

_WORD = re.compile(r"\w+(?:[-']\w+)*", re.UNICODE)
TERMS_VERSION = "lemma-snowball-1"  # changes when terms() does: a persisted index of older terms is rebuilt


def _spell(text: str) -> str:
    """Casefold, drop accents, umlauts as ae/oe/ue and ß as ss, so "Außenminister" meets "Aussenminister"."""
    text = unicodedata.normalize("NFKC", text).casefold().replace("ß", "ss")
    decomposed = unicodedata.normalize("NFD", text)
    decomposed = decomposed.replace("a\u0308", "ae").replace("o\u0308", "oe").replace("u\u0308", "ue")
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def fold(text: str) -> str:
    """The shared spelling for matching: casefolded, without accents, umlauts spelled out."""
    return _spell(text)


_STOPWORDS = frozenset(_spell(w) for w in STOPWORDS)


@lru_cache(maxsize=1)
def _stemmer() -> Stemmer.Stemmer:
    return Stemmer.Stemmer("german")


def terms(text: str) -> list[str]:
    """Lemmatised, stemmed content words: the vocabulary of the BM25 index and of evidence scoring."""
    words: list[str] = []
    for token in _WORD.findall(unicodedata.normalize("NFKC", text)):
        # split hyphenated compounds too ("G20-Treffen" -> g20, treffen, g20-treffen)
        parts = token.split("-") if "-" in token else []
        for word in [token.replace("-", ""), *parts]:
            term = _term(word)
            if term:
                words.append(term)
    return words


@lru_cache(maxsize=200_000)  # words are Zipf-distributed: the cache holds nearly every one seen
def _term(word: str) -> str | None:
    """One word's term: its lemma (so "traf" meets "treffen", "gedauert" meets "dauerte"), spelled out and
    stemmed; None for a function word."""
    if _spell(word) in _STOPWORDS:
        return None
    lemma = _spell(simplemma.lemmatize(word.casefold(), lang="de"))
    if lemma in _STOPWORDS:
        return None
    return _stemmer().stemWord(lemma)


def term_match(query_term: str, present: AbstractSet[str]) -> float:
    """1 for the term itself, 0.7 for a German compound that contains it or that it contains
    ("haft" in "haftstraf", "krisengesprach" ending in "gesprach"), else 0."""
    if query_term in present:
        return 1.0
    if len(query_term) < 4:
        return 0.0
    # a present word starting or ending with the term: a substring search over all of them at once, since an
    # article's terms run to thousands
    joined = _joined(present) if isinstance(present, frozenset) else _join(present)
    if f"\0{query_term}" in joined or f"{query_term}\0" in joined:
        return 0.7
    parts = range(5, len(query_term))  # a present word of 5 letters or more that starts or ends the term
    return 0.7 if any(query_term[:n] in present or query_term[-n:] in present for n in parts) else 0.0


def _join(words: AbstractSet[str]) -> str:
    return "\0" + "\0".join(words) + "\0"


_joined = lru_cache(maxsize=256)(_join)  # an article's terms: a frozenset, read again for every chunk and question


@dataclass(frozen=True)
class Span:
    start: int
    end: int


# where a sentence may end: end punctuation (and closing quotes) before what may start a sentence
_MAY_END = re.compile(r"[.!?…]+[»«“”\"')\]]*(?=\s+[\"„“«»(]?[A-ZÄÖÜ0-9])")
# a full stop after a long word (letters only: 7 or more, or 5 or more in lower case), or a ! or ?, ends a
# sentence without asking SoMaJo: German abbreviations are shorter ("Prof.", "Mio.", "insb."), and each call to
# SoMaJo costs a millisecond or two
_PLAIN_END = re.compile(r"(?:(?<![\w.])(?:[^\W\d_]{7,}|[^\W\d_A-ZÄÖÜ]{5,6})\.|[!?]+)[»«“”\"')\]]*$")
# "3." may be an ordinal ("am 3. Oktober"): whether it ends a sentence depends on the word after it
_NUMBER_END = re.compile(rf"(?<![\w.]){ORDINAL.pattern}$")
_CONTEXT_CHARS = 20  # about this much of the line on either side of a possible end is what SoMaJo reads


def sentence_spans(text: str) -> list[Span]:
    """Split German text into sentences, returned as stripped char spans of `text`.

    Line breaks always end a sentence (headlines carry no full stop). Within a line, each full stop (or ! ? …)
    before a capital is judged by SoMaJo, a maintained German tokenizer and sentence splitter: after an ordinal
    ("2. März"), an abbreviation ("z. B.", "Mio.", "et al.") or an initial ("M. Theo Kearney") a sentence goes on.
    """
    spans: list[Span] = []
    for line in re.finditer(r"[^\n]+", text):
        start = 0
        for end in (m.end() for m in _MAY_END.finditer(line.group(0))):
            if _ends_sentence(line.group(0), end):
                _append_stripped(spans, text, line.start() + start, line.start() + end)
                start = end
        _append_stripped(spans, text, line.start() + start, line.end())
    return spans


def _ends_sentence(line: str, end: int) -> bool:
    """Whether a sentence of the line ends at `end`. SoMaJo reads the words around it only: reading whole lines
    cost a fifth of the ingest speed."""
    if _PLAIN_END.search(line, max(0, end - 80), end):
        return True
    if _NUMBER_END.search(line, max(0, end - 80), end):
        return not _may_follow_ordinal(line[end:])
    left = line.rfind(" ", 0, max(0, end - _CONTEXT_CHARS)) + 1  # a word's start (0 when none is found)
    right = line.find(" ", end + _CONTEXT_CHARS)
    window = line[left : right if right >= 0 else len(line)]
    sentences = _somajo().tokenize_text([window])
    return any(left + sentence[-1].character_offset[1] == end for sentence in sentences if sentence)


def _may_follow_ordinal(rest: str) -> bool:
    """Whether the next word can follow an ordinal: a noun or an adjective ("3. Oktober", "18. Jahrhunderts",
    "2. großen"), not a pronoun, article or adverb ("Route 99. Sie verbindet …")."""
    word = re.match(r"\W*(\w+)", rest)
    return word is None or tag(word.group(1))[0].tag in {"NN", "NE", "NNI", "FM", "ADJA", "ADJD", "CARD"}


@lru_cache(maxsize=1)
def _somajo():
    """SoMaJo, which knows German ordinals, abbreviations and initials."""
    from somajo import SoMaJo

    return SoMaJo("de_CMC", split_camel_case=False, character_offsets=True)


def _append_stripped(spans: list[Span], text: str, start: int, end: int) -> None:
    piece = text[start:end]
    left = len(piece) - len(piece.lstrip())
    right = len(piece.rstrip())
    if right > left:
        spans.append(Span(start + left, start + right))
