"""Reading a question: what kind of answer it wants, which period it is about, and its search terms."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from rag.german import tag
from rag.text import terms
from rag.timescope import MONTHS, Period, question_period


class AnswerKind(StrEnum):
    PERSON = "person"
    PLACE = "place"
    TIME = "time"
    NUMBER = "number"
    DURATION = "duration"
    REASON = "reason"  # warum: a clause
    THING = "thing"  # welche X, was, wie heißt: a noun phrase
    OTHER = "other"  # wie (manner) and anything unrecognised: a phrase


# The wh-phrase decides the kind; the first pattern that matches wins. These are German and English question
# words, not knowledge of any article.
_KIND_PATTERNS: list[tuple[AnswerKind, str]] = [
    (AnswerKind.DURATION, r"wie lange|how long"
                          r"|wie viele[nr]? (?:jahre?n?|monate?n?|wochen|tage?n?|stunden|minuten|sekunden)"),
    (AnswerKind.TIME, r"wann|seit wann|bis wann|in welche[mnr]? (?:jahr|jahrhundert|jahrzehnt|monat|zeit|epoche|phase)"
                      r"|an welche[mnr]? (?:tag|wochentag|datum)|um wie ?viel uhr|zu welche[mnr]? zeit"
                      r"|welche[mnr]? (?:jahr|jahrhundert|datum|monat|wochentag)|when|what time|which (?:year|day)"),
    (AnswerKind.NUMBER, r"wie ?viel(?:e|en|er|es)?|wie (?:hoch|groß|gross|alt|weit|schwer|lang|breit|tief|schnell|oft)"
                        r"|how (?:many|much|high|old|far|big|large)"),
    (AnswerKind.PLACE, r"wo|wohin|woher|(?:in|an|aus|auf|nach) welche[mnr]? (?:stadt|land|ort|region|gebiet|staat"
                       r"|kontinent|länder|ländern|städten|orten|hotel|gebäude)|where|in which (?:city|country)"),
    (AnswerKind.PERSON, r"wer|wen|wem|wessen|who|whom|whose"),
    (AnswerKind.REASON, r"warum|weshalb|wieso|weswegen|aus welchem grund|why"),
    (AnswerKind.THING, r"welche[mnrs]?|was|wie (?:hei(?:ß|ss)(?:t|en|e)|hie(?:ß|ss)(?:en)?|nennt|nannte|lautet|lautete)|what|which"),
    (AnswerKind.OTHER, r"wie|how"),
]
_KIND_REGEX = [(kind, re.compile(rf"(?<!\w)(?:{pattern})(?!\w)", re.IGNORECASE)) for kind, pattern in _KIND_PATTERNS]

# Words that name the kind of answer wanted ("an welchem Ort", "in welchem Jahr"): the answer sentence rarely
# has them, so they are no evidence.
_ANSWER_TYPE_TERMS = frozenset(
    terms("Ort Orte Stadt Land Tag Wochentag Datum Jahr Jahrhundert Uhr Uhrzeit Zeit Name Namen heißt heisst nennt")
)
PLACE_PREPOSITIONS = frozenset({"in", "nach", "aus", "bei"})
# "wovon", "woran", "wozu": wo(r) and a preposition; "wohin", "woher" and "wo" ask for a place instead
_PRONOMINAL_ADVERB = re.compile(
    r"wor?(?P<preposition>an|auf|aus|bei|durch|für|gegen|hinter|in|mit|nach|neben|über|um|unter|von|vor|zu|zwischen)"
)
_WH_WORD = re.compile(r"we[mn]|was|wessen|welche[mnrs]?|wie|wann")
# "Welche Stadt", "Welche Art von Heizelement", "Wie heißt der Ehemann", "Wie lautet der Name des Vereins"
_FOCUS = re.compile(
    r"(?<!\w)(?i:welche[mnrs]?|was für(?: eine?[mnrs]?)?|wie (?:hei(?:ß|ss)t|hie(?:ß|ss)|lautet|lautete) (?:der|die|das))"
    r"\s+(?:\w+e[nmrs]?\s+)?(?:(?i:art|sorte|form|typ|name|namen)\s+(?i:von|an|der|des|eines|einer)\s+(?:\w+e[nmrs]?\s+)?)?"
    r"(?P<noun>[A-ZÄÖÜ][\w-]*)"
)


@dataclass(frozen=True)
class Question:
    text: str
    period: Period | None  # the one year or month it names, if any
    kind: AnswerKind
    terms: tuple[str, ...]  # stemmed content words, without time words and answer-type words
    focus: str | None = None  # the noun of "Welche Stadt …": what the answer is
    places: tuple[str, ...] = ()  # the places it names ("Stockholm" in "Wie lange … in Stockholm?")
    preposition: str | None = None  # the preposition it asks with ("zu" of "Wozu …", "mit" of "Mit wem …")


def answer_kind(text: str) -> AnswerKind:
    """The kind of the earliest wh-phrase of the question (English and German)."""
    found = [(m.start(), -len(m.group(0)), kind) for kind, regex in _KIND_REGEX if (m := regex.search(text))]
    return min(found)[2] if found else AnswerKind.OTHER


def read_question(text: str, aliases: Mapping[str, str] | None = None) -> Question:
    """`aliases` (a per-corpus data file, see load_aliases) rewrite words before the terms are taken."""
    period = question_period(text)
    time_words = set(terms(" ".join(MONTHS))) | ({str(period.year)} if period else set())
    searched = _apply_aliases(text, aliases) if aliases else text
    content = [t for t in terms(searched) if t not in time_words and t not in _ANSWER_TYPE_TERMS]
    focus = _FOCUS.search(text)
    return Question(
        text=text,
        period=period,
        kind=answer_kind(text),
        terms=tuple(dict.fromkeys(content)),
        focus=focus.group("noun") if focus else None,
        places=tuple((aliases or {}).get(place.casefold(), place) for place in question_places(text)),
        preposition=asked_preposition(text),
    )


def asked_preposition(text: str) -> str | None:
    """The preposition of the question's wh-phrase: "Wovon …" and "Von wem …" ask for what stands after "von"."""
    tokens = tag(text)
    for n, (token, following) in enumerate(zip(tokens, tokens[1:] + (None,))):
        if adverb := _PRONOMINAL_ADVERB.fullmatch(token.text.casefold()):
            return adverb.group("preposition")
        # HanTa tags a question's first "Mit" as an adverb as often as a preposition
        preposition = token.tag == "APPR" or (n == 0 and token.tag == "ADV")
        if preposition and following is not None and _WH_WORD.fullmatch(following.text.casefold()):
            return token.lemma.casefold()
    return None


def question_places(text: str) -> tuple[str, ...]:
    """Proper names the question puts after a preposition of place ("in Stockholm", "nach Berlin")."""
    tokens = tag(text)
    return tuple(
        dict.fromkeys(
            t.text
            for before, t in zip(tokens, tokens[1:])
            if t.tag in {"NE", "NNI"} and before.tag == "APPR" and before.text.casefold() in PLACE_PREPOSITIONS
        )
    )


def load_aliases(path: Path | None) -> dict[str, str]:
    """A tab-separated file of `variant<TAB>form the articles use` lines (# starts a comment); none by default."""
    if path is None:
        return {}
    aliases = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        variant, _, canonical = line.partition("\t")
        if variant.strip() and not variant.lstrip().startswith("#") and canonical.strip():
            aliases[variant.strip().casefold()] = canonical.strip()
    return aliases


def _apply_aliases(text: str, aliases: Mapping[str, str]) -> str:
    pattern = re.compile(r"(?<!\w)(" + "|".join(map(re.escape, sorted(aliases, key=len, reverse=True))) + r")(?!\w)", re.I)
    return pattern.sub(lambda m: aliases[m.group(0).casefold()], text)
