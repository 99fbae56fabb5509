"""Answer candidates: the spans of an evidence sentence that have the shape of the answer a question wants.

The model then chooses among them; a question that wants a place gets only place-like spans to choose from,
so the choice cannot drift to an example, or to a time when a place was asked for.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from rag.retrieve import AnswerKind
from rag.text import fold, terms

_UPPER = "A-ZÄÖÜ"
_WORD_CHARS = r"\wäöüßéèáàçëï"
_NAME_WORD = rf"[{_UPPER}][{_WORD_CHARS}]*(?:-[{_UPPER}0-9][{_WORD_CHARS}]*)*"
_NAME = rf"{_NAME_WORD}(?:[ -]{_NAME_WORD})*"
_WEEKDAYS = "Montag|Dienstag|Mittwoch|Donnerstag|Freitag|Samstag|Sonntag"
_MONTHS = "Januar|Februar|März|April|Mai|Juni|Juli|August|September|Oktober|November|Dezember"
_NUMBER_WORDS = (
    "ein|eine|einen|zwei|drei|vier|fünf|sechs|sieben|acht|neun|zehn|elf|zwölf|zwanzig|dreissig|dreißig|"
    "hundert|tausend|hunderte|tausende|eineinhalb|anderthalb|dutzende"
)
_QUANTITY = rf"(?<![\w-])(?:(?:rund|etwa|knapp|fast|mehr als|weniger als|über|bis zu|weitere)\s+)?(?!(?:19|20)\d\d\b)(?:\d[\d.,']*\d|\d|(?:{_NUMBER_WORDS})\b)"
_UNITS = "Sekunden|Minuten|Stunden|Tage|Tagen|Wochen|Monate|Monaten|Jahre|Jahren|Jahr|Stunde|Minute|Woche|Monat|Tag"
_ARTICLES = "der|die|das|dem|den|des|einem|einer|eines|ein|eine"
# Nouns naming a role rather than a person ("Duma-Präsident", "Aussenministerin"): cut from the front of a name.
_ROLE = re.compile(
    r"(?:minister(?:in)?|präsident(?:en|in)?|sprecher(?:in)?|experte|expertin|beauftragte[rn]?|kollegen?|beamte[rn]?|"
    r"kanzler(?:in)?|chef(?:in)?|diplomat(?:en)?|generalsekretär|premier|staatschef|amtskollegen?|soldaten?)$",
    re.IGNORECASE,
)

# Each kind has tiers: only the best tier found in the evidence competes. Proper place names take no article
# ("in Genf", "nach Berlin"), so those come before looser spans such as "am Genfersee".
PATTERNS: dict[AnswerKind, list[list[re.Pattern[str]]]] = {
    AnswerKind.PLACE: [
        [re.compile(rf"\b(?:in|nach|aus|bei)\s+(?P<core>{_NAME})")],
        [re.compile(rf"\b(?:in|im|am|auf|bei)\s+(?:(?:{_ARTICLES})\s+)?(?P<core>(?:[a-zäöü]+e[nmrs]?\s+)?{_NAME})")],
    ],
    AnswerKind.TIME: [
        [
            re.compile(
                rf"\b(?:am|seit|bis|ab)\s+(?P<core>(?:\d{{1,2}}\.\s*)?(?:{_MONTHS}|{_WEEKDAYS})(?:\s+(?:19|20)\d\d)?)"
            ),
            re.compile(rf"\b(?:im|seit|bis|ab|Anfang|Mitte|Ende)\s+(?P<core>(?:{_MONTHS})(?:\s+(?:19|20)\d\d)?)"),
            re.compile(rf"(?<![\w.])(?P<core>\d{{1,2}}\.\s*(?:{_MONTHS})(?:\s+(?:19|20)\d\d)?)"),
            re.compile(r"\b(?:gegen|um|ab)\s+(?P<core>\d{1,2}[.:]\d\d\s*Uhr)"),
            re.compile(r"(?<![\w.-])(?:(?:im Jahr|seit|bis)\s+)?(?P<core>(?:19|20)\d\d)\b(?![.,]\d)"),
            re.compile(
                r"\b(?:in der|in den|am) (?P<core>(?:kommenden|vergangenen|nächsten|folgenden) (?:Woche|Wochen|Tagen|Tag))\b"
            ),
        ]
    ],
    AnswerKind.OTHER: [  # what someone said or called something, else the sentence itself
        [re.compile(r"„(?P<core>[^“”\n]{2,120})[“”]|«(?P<c2>[^»\n]{2,120})»|\"(?P<c3>[^\"\n]{2,120})\"")],
        [re.compile(r"^(?P<core>.+)$", re.DOTALL)],
    ],
    AnswerKind.PERSON: [  # full names first, single words only where no full name is found
        [re.compile(rf"(?P<core>{_NAME_WORD}(?:\s+{_NAME_WORD}){{1,3}})")],
        [re.compile(rf"(?P<core>{_NAME_WORD})")],
    ],
    AnswerKind.NUMBER: [
        [
            re.compile(
                rf"(?P<core>{_QUANTITY})(?:\s+(?:Millionen|Milliarden|Prozent))?(?:\s+[a-zäöü]+e[nmrs]?\b)?(?:\s+[{_UPPER}][\w-]+)?"
            )
        ],
    ],
    AnswerKind.DURATION: [
        [
            re.compile(rf"(?P<core>{_QUANTITY}\s+(?:{_UNITS}))\b"),
            re.compile(rf"\b(?P<core>(?:\d+-?|{_NUMBER_WORDS})(?:stündig|minütig|tägig|wöchig|monatig|jährig)\w*)"),
        ]
    ],
}

# Endings of common nouns, which are capitalised in German but never part of a person's name.
_COMMON_NOUN = re.compile(
    r"(?:ung|ungen|heit|keit|schaft|tion|sion|ismus|tät|nis|ium|ment|agentur|gipfel|treffens?|staaten|lands?|"
    r"kriegs?|beginn|rande|amt|amts|rat|tag|woche|jahr|konflikt|gespräch|vertrag|abkommen|system)$",
    re.IGNORECASE,
)
_NOT_NAME_CHARS = re.compile(r"[\d„“«»]")

_DURATION_ADJECTIVE = re.compile(rf"(\d+|{_NUMBER_WORDS})-?(stündig|minütig|tägig|wöchig|monatig|jährig)\w*")
_DURATION_UNITS = {"stündig": "Stunden", "minütig": "Minuten", "tägig": "Tage", "wöchig": "Wochen",
                   "monatig": "Monate", "jährig": "Jahre"}  # fmt: skip

# When a question names the unit of time it wants, candidates must have it.
_TIME_FOCUS: list[tuple[re.Pattern[str], re.Pattern[str]]] = [
    (re.compile(r"wochentag|welche[mn]? tag\b|which day", re.I), re.compile(_WEEKDAYS)),
    (re.compile(r"welche[mn]? jahr|which year", re.I), re.compile(r"(?:19|20)\d\d")),
    (re.compile(r"\buhr|uhrzeit|what time", re.I), re.compile(r"Uhr")),
    (re.compile(r"welche[mn]? monat|which month", re.I), re.compile(_MONTHS)),
    (re.compile(r"datum|which date", re.I), re.compile(rf"\d{{1,2}}\.\s*(?:{_MONTHS})")),
]

# Capitalised words that start sentences or name things, never people.
_NOT_NAMES = frozenset(
    """Der Die Das Dem Den Des Ein Eine Einem Einen Einer Er Sie Es Wir Ich Am Im In Auf Bei Nach Aus Mit Für
    Dies Diese Dieser Dabei Damit Danach Zudem Auch Aber Allerdings Unterdessen Gleichzeitig Derzeit Beide
    Anders Wenn Zwar Außerdem Ausserdem Westliche Viele Wenige Andere Kritische Beim Zur Zum Wie Was Wer
    Russland Ukraine USA Moskau Washington Nato NATO China Indien Genf Berlin Kiew Europa EU Belarus Polen""".split()
)


@dataclass(frozen=True)
class Candidate:
    text: str  # the answer as it will be shown ("in Genf")
    core: str  # the part that carries the fact ("Genf"); matched against the question and other sources
    start: int  # span of `text` within the sentence
    end: int
    tier: int = 0  # 0 for the surest shape of answer; higher tiers are fallbacks


@lru_cache(maxsize=4096)  # the reranker and the answerer both ask for the same sentences' candidates
def extract(sentence: str, kind: AnswerKind, question: str = "") -> tuple[Candidate, ...]:
    """Spans of `sentence` shaped like an answer of `kind`, minus those the question already names.

    For OTHER, a quotation in the sentence, or else the whole sentence.
    """
    asked = set(re.findall(r"\w+", fold(question)))
    found: dict[str, Candidate] = {}
    for tier, patterns in enumerate(PATTERNS[kind]):
        for pattern in patterns:
            for match in pattern.finditer(sentence):
                candidate = _shape(match, kind, tier)
                core_words = re.findall(r"\w+", fold(candidate.core)) if candidate else []
                # nothing the question already names: for a person, not even the surname
                named = (
                    core_words[-1] in asked if kind is AnswerKind.PERSON and core_words else set(core_words) <= asked
                )
                if candidate and core_words and not named:
                    found.setdefault(candidate.text, candidate)
    candidates = [c for c in found.values() if not _inside_another(c, found.values())]
    if kind is AnswerKind.TIME:
        candidates = [
            c for c in candidates if all(need.search(c.text) for ask, need in _TIME_FOCUS if ask.search(question))
        ]
    candidates.sort(key=lambda c: c.start)
    return tuple(_join_names(candidates, sentence) if kind is AnswerKind.PERSON else candidates)


def _inside_another(candidate: Candidate, others) -> bool:
    """ "2018" inside "im Dezember 2018", "Lawrow" inside "Sergej Lawrow": the longer span says more."""
    return any(
        o.tier <= candidate.tier and o.start <= candidate.start and candidate.end <= o.end and o != candidate
        for o in others
    )


def _shape(match: re.Match[str], kind: AnswerKind, tier: int) -> Candidate | None:
    text = match.group(0).rstrip(" ,;:")
    core = next(group for group in (match.groupdict().get(k) for k in ("core", "c2", "c3")) if group)
    if kind is AnswerKind.DURATION and (adjective := _DURATION_ADJECTIVE.fullmatch(core)):
        # "eineinhalbstündigen" answers "wie lange" as "eineinhalb Stunden"
        amount, unit = adjective.group(1), _DURATION_UNITS[adjective.group(2)]
        return Candidate(f"{amount} {unit}", core, match.start("core"), match.end("core"), tier)
    if kind is AnswerKind.PLACE and re.search(rf"\b(?:{_WEEKDAYS}|{_MONTHS})\b", core):
        return None
    if kind is AnswerKind.PERSON:
        words = core.split()
        while words and (words[0] in _NOT_NAMES or _ROLE.search(words[0].split("-")[-1])):
            words = words[1:]
        if not words or any(_ROLE.search(w) or _COMMON_NOUN.search(w) or _NOT_NAME_CHARS.search(w) for w in words):
            return None
        if words[-1] in _NOT_NAMES or (tier == 0 and len(words) < 2):
            return None
        name = " ".join(words)
        start = match.start("core") + core.index(name)
        return Candidate(name, name, start, start + len(name), tier)
    return Candidate(text, core, match.start(), match.start() + len(text), tier)


def _join_names(candidates: list[Candidate], sentence: str) -> list[Candidate]:
    """Add "A und B" for two full names the sentence joins with "und": who-questions often want both."""
    joined = list(candidates)
    for first, second in zip(candidates, candidates[1:]):
        between = sentence[first.end : second.start]
        if second.start > first.end and len(between) <= 40 and re.search(r"\bund\b", between):
            text = f"{first.text} und {second.text}"
            joined.append(Candidate(text, text, first.start, second.end, max(first.tier, second.tier)))
    return joined


_CLAUSE_BREAK = re.compile(r"[,;:–—()«»„“\"]|\b(?:und|oder|aber|sondern|während|weil|nachdem)\b")


def _tokens(sentence: str, candidate: Candidate) -> list[tuple[int, bool, set[str]]]:
    """(clause number, inside the candidate, stemmed terms) for each word of the sentence."""
    clause, tokens = 0, []
    for match in re.finditer(rf"{_CLAUSE_BREAK.pattern}|[\w-]+", sentence):
        inside = match.start() >= candidate.start and match.end() <= candidate.end
        if _CLAUSE_BREAK.fullmatch(match.group(0)) and not inside:
            clause += 1
        else:
            tokens.append((clause, inside, set(terms(match.group(0)))))
    return tokens


def proximity(sentence: str, candidate: Candidate, question_terms: tuple[str, ...]) -> float:
    """How close the question's words stand to the candidate in its sentence (1: all right next to it).

    Answers sit near the words that ask for them: in "830 Soldaten in Estland, weitere 140 in Polen",
    a question about Polen wants the 140.
    """
    tokens = _tokens(sentence, candidate)
    positions = [n for n, (_, inside, _) in enumerate(tokens) if inside]
    if not question_terms or not positions:
        return 0.0
    first, last = positions[0], positions[-1]
    total = 0.0
    for term in question_terms:
        gaps = [
            first - n - 1 if n < first else n - last - 1
            for n, (_, inside, found) in enumerate(tokens)
            if not inside and term in found
        ]
        if gaps:
            total += 1.0 / (1 + min(gaps))
    return total / len(question_terms)


def in_asked_clause(sentence: str, candidate: Candidate, question_terms: tuple[str, ...]) -> bool:
    """Whether a word of the question stands in the candidate's own clause: in "im Dezember 2018 festgenommen
    und 2020 verurteilt" a question about the arrest finds its word beside 2018, not beside 2020."""
    tokens = _tokens(sentence, candidate)
    own = {clause for clause, inside, _ in tokens if inside}
    asked = set(question_terms)
    return any(clause in own and not inside and found & asked for clause, inside, found in tokens)
