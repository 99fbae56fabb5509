"""Answer proposals: the spans of an evidence sentence that could answer a question, from its word classes.

A sentence is tagged (rag.german), cut into noun phrases, and each kind of question takes the phrases of its
shape: names for "wer", places for "wo", dates for "wann", quantities for "wie viele", clauses for "warum".
The model then chooses among them (rag.answer). Words the question already says are trimmed from a span's
ends: "Wie viele Punkte …" wants "308", not "308 Punkte".
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

from rag.german import ORDINAL, Token, tag
from rag.question import AnswerKind
from rag.text import terms
from rag.timescope import MONTHS

DETERMINERS = frozenset({"ART", "PPOSAT", "PDAT", "PIAT", "PIDAT", "PWAT"})
MODIFIERS = frozenset({"ADJA", "CARD", "TRUNC"})
HEADS = frozenset({"NN", "NE", "NNI", "NNA", "FM", "XY", "CARD"})
NAMES = frozenset({"NE", "NNI", "FM"})
PREPOSITIONS = frozenset({"APPR", "APPRART"})
COORDINATORS = frozenset({"und", "oder", "sowie", "bzw"})
GENITIVE_ARTICLES = frozenset({"des", "der", "eines", "einer"})
LOCATIVE = frozenset({"in", "nach", "aus", "bei", "an", "auf", "vor", "über", "zu", "von"})
LOCATIVE_CONTRACTIONS = frozenset({"am", "im", "beim", "zum", "zur", "vom", "ans", "ins"})

WEEKDAYS = ("montag", "dienstag", "mittwoch", "donnerstag", "freitag", "samstag", "sonntag")
# Nouns of time and of time units: what "wann" and "wie lange" answers are made of.
TIME_NOUNS = frozenset(
    "jahr jahre jahren jahres jahrhundert jahrhunderts jahrzehnt jahrzehnte jahrzehnten monat monate monaten woche "
    "wochen tag tage tagen stunde stunden minute minuten sekunde sekunden uhr morgen abend nacht mittag "
    "frühjahr frühling sommer herbst winter anfang mitte ende beginn".split()
) | frozenset(MONTHS) | frozenset(WEEKDAYS)
DURATION_UNITS = frozenset(
    "jahr jahre jahren monat monate monaten woche wochen tag tage tagen stunde stunden minute minuten sekunde "
    "sekunden jahrzehnt jahrzehnte jahrzehnten jahrhundert jahrhunderte".split()
)
_DURATION_ADJECTIVE = re.compile(r"(?P<amount>\w+?)-?(?P<unit>stündig|minütig|tägig|wöchig|monatig|jährig)\w*", re.I)
_ADJECTIVE_UNITS = {"stündig": "Stunden", "minütig": "Minuten", "tägig": "Tage", "wöchig": "Wochen",
                    "monatig": "Monate", "jährig": "Jahre"}  # fmt: skip
_CLAUSE_OPENERS = frozenset({"weil", "da", "denn", "um", "damit", "wegen", "aufgrund", "dank", "infolge", "nachdem"})
_CLAUSE_END = frozenset({"$,", "$.", "$("})
QUOTES = {"„": "“”\"", "»": "«", "«": "»", '"': '"', "“": "”", "‚": "‘’"}  # opening mark: the closing ones
MAX_QUOTE_WORDS = 12  # longer quotations are sentences, not answers
# longer phrases are lists and clauses, not answers: 4% of the XQuAD tune answers have more words, and of the
# phrases the reader chose that long, the mean F1 was 0.12 ("warum" answers, which are clauses, may be longer)
MAX_PHRASE_WORDS = 8
YEAR = re.compile(r"1\d{3}|20\d\d")
CLOCK = re.compile(r"\d{1,2}[.:]\d\d")  # "11.00", "9:30"
# words that belong to a quantity ("rund 100.000", "über 50")
QUANTITY_ADVERBS = frozenset({"rund", "etwa", "knapp", "fast", "über", "ungefähr", "circa", "ca", "mindestens",
                              "höchstens", "bis"})  # fmt: skip


@dataclass(frozen=True)
class Candidate:
    text: str  # the answer as shown: the sentence's own words
    start: int  # span within the sentence
    end: int
    tokens: tuple[Token, ...] = ()
    preposition: str = ""  # the preposition before it, lowercased ("in" of "in Bern")
    phrase: str = ""  # the phrase it was cut from, with the question's words ("die Zeitung „Times“")
    governed_by: str = ""  # the preposition its phrase hangs on, as a lemma ("zu" of "zur Wiedergeburt")

    @property
    def has_name(self) -> bool:
        return any(t.tag in NAMES for t in self.tokens)

    @property
    def has_number(self) -> bool:
        return any(t.tag == "CARD" for t in self.tokens)

    @property
    def has_time_word(self) -> bool:
        return any(t.text.casefold() in TIME_NOUNS for t in self.tokens)

    @property
    def words(self) -> int:
        return max(1, len(self.tokens))


# -- noun phrases -----------------------------------------------------------------------------------------------


def noun_phrases(tokens: tuple[Token, ...]) -> list[tuple[int, int]]:
    """Maximal noun phrases as token ranges [i, j): up to two determiners ("den meisten"), modifiers, then one or
    more nouns or numbers."""
    phrases, i = [], 0
    while i < len(tokens):
        j = i
        while j < len(tokens) and j - i < 2 and tokens[j].tag in DETERMINERS:
            j += 1
        if j + 1 < len(tokens) and tokens[j].tag == "ADJD" and tokens[j + 1].tag in NAMES:  # "Neu Delhi"
            j += 1
        while j < len(tokens) and (
            tokens[j].tag in MODIFIERS
            or (tokens[j].text.casefold() in QUANTITY_ADVERBS and j + 1 < len(tokens) and tokens[j + 1].tag == "CARD")
        ):
            j += 1
        head_start = j
        while j < len(tokens) and tokens[j].tag in HEADS and not _new_phrase(tokens, head_start, j):
            j += 1
        if j > head_start or (j > i and tokens[j - 1].tag == "CARD"):
            phrases.append((i, j))
            i = j
        else:
            i += 1
    return phrases


def _new_phrase(tokens: tuple[Token, ...], head_start: int, j: int) -> bool:
    """Whether a common noun right after another starts a phrase of its own: in "zum Ukraine-Konflikt Bereiche
    für …" one object ends where the next begins. A name or a number after a noun stays ("Präsident Obama",
    "Jahr 1654"), and so does an acronym the tagger takes for a noun ("Energiprojekt AB")."""
    noun = tokens[j].text
    return j > head_start and tokens[j - 1].tag == "NN" and tokens[j].tag == "NN" and noun[1:] != noun[1:].upper()


def _extensions(tokens: tuple[Token, ...], phrases: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Longer phrases built from neighbours: a genitive ("die Verteidigung der Panthers"), "von" ("Stiftung von
    X") and coordination ("Donezk und Luhansk")."""
    longer = []
    for (i, j), (k, m) in zip(phrases, phrases[1:]):
        between = _between(tokens, (i, j), (k, m))
        following = tokens[k].text.casefold()
        if (not between and following in GENITIVE_ARTICLES) or between in (["von"], ["vom"]):
            longer.append((i, m))
        elif _coordinated(between):
            longer.append((i, m))
    return longer


def _lists(tokens: tuple[Token, ...], phrases: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Whole enumerations of three or more phrases: "Typhus, Pocken und Atemwegsinfektionen" (two phrases joined
    by "und" are an extension already). The last item follows "und" or "oder" without a comma: ", und" closes an
    apposition ("Müller, der Bürgermeister, und Schmidt"); only "sowie" often has one."""

    def joined(n: int) -> list[str]:  # the words between phrase n and the next
        return _between(tokens, phrases[n], phrases[n + 1])

    def closing(n: int) -> bool:
        words = joined(n)
        return _coordinated(words) or words == [",", "sowie"]

    lists = []
    for first in range(len(phrases) - 2):
        if first > 0 and joined(first - 1) == [","]:  # a tail of a longer enumeration
            continue
        last = first
        while last + 1 < len(phrases) and joined(last) == [","]:
            last += 1
        if last > first and last + 1 < len(phrases) and closing(last):
            lists.append((phrases[first][0], phrases[last + 1][1]))
    return lists


def _between(tokens: tuple[Token, ...], left: tuple[int, int], right: tuple[int, int]) -> list[str]:
    return [t.text.casefold() for t in tokens[left[1] : right[0]]]


def _coordinated(between: list[str]) -> bool:
    """Whether two phrases are joined by "und", "oder", "sowie" or "bzw" alone."""
    return len(between) == 1 and between[0] in COORDINATORS


def _located(tokens: tuple[Token, ...], phrases: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """A phrase with the place attached to it: "einem Hotel am Bodensee"."""
    return [
        (i, m) for (i, j), (k, m) in zip(phrases, phrases[1:])
        if k == j + 1 and tokens[j].tag in PREPOSITIONS
        and tokens[j].text.casefold() in LOCATIVE | LOCATIVE_CONTRACTIONS
    ]  # fmt: skip


def _quotations(tokens: tuple[Token, ...]) -> list[tuple[int, int]]:
    """What stands between quotation marks: a title, a name, or words someone said („offen und nützlich“)."""
    ranges, i = [], 0
    while i < len(tokens):
        closing = QUOTES.get(tokens[i].text, "")
        ahead = range(i + 1, min(len(tokens), i + MAX_QUOTE_WORDS + 2))
        j = next((j for j in ahead if tokens[j].text in closing), None) if closing else None
        if j is not None and j > i + 1:
            ranges.append((i + 1, j))
            i = j
        i += 1
    return ranges


def _name_runs(tokens: tuple[Token, ...]) -> list[tuple[int, int]]:
    runs, i = [], 0
    while i < len(tokens):
        if tokens[i].tag in NAMES:
            j = i
            while j < len(tokens) and tokens[j].tag in NAMES:
                j += 1
            runs.append((i, j))
            i = j
        else:
            i += 1
    return runs


# -- proposals per kind ---------------------------------------------------------------------------------------


def _phrases_and_names(tokens: tuple[Token, ...]) -> list[tuple[int, int]]:
    phrases = noun_phrases(tokens)
    return phrases + _extensions(tokens, phrases) + _lists(tokens, phrases) + _name_runs(tokens)


def _people(tokens):
    ranges = _phrases_and_names(tokens)
    named = [r for r in ranges if any(t.tag in NAMES for t in tokens[r[0] : r[1]])]
    return named or ranges


def _places(tokens):
    ranges = _phrases_and_names(tokens) + _located(tokens, noun_phrases(tokens))
    return [
        r for r in ranges
        if any(t.tag in NAMES for t in tokens[r[0]:r[1]]) or _preposition(tokens, r[0]) in LOCATIVE
    ] or ranges  # fmt: skip


def _times(tokens):
    ranges = _phrases_and_names(tokens) + _dates(tokens)
    return [r for r in ranges if any(_is_time(t) for t in tokens[r[0] : r[1]])]


def _numbers(tokens):
    """Quantities: numbers with what they count, and numbers alone; a year is a date, not a quantity."""
    ranges = noun_phrases(tokens)
    ranges += [(i, i + 1) for i, t in enumerate(tokens) if t.tag == "CARD"]
    return [r for r in ranges if any(tokens[n].tag == "CARD" and not _is_year(tokens, n) for n in range(*r))]


def _is_year(tokens: tuple[Token, ...], n: int) -> bool:
    """A number that reads as a year: four digits from 1000 to 2099 that count no noun ("2023", "im Jahr 1850";
    not "1500 Soldaten")."""
    counts = n + 1 < len(tokens) and tokens[n + 1].tag in HEADS
    return bool(YEAR.fullmatch(tokens[n].text)) and not counts


def _durations(tokens):
    ranges = [r for r in noun_phrases(tokens) if _is_duration(tokens[r[0] : r[1]])]
    return ranges + [(i, i + 1) for i, t in enumerate(tokens) if _DURATION_ADJECTIVE.fullmatch(t.text)]


def _reasons(tokens):
    """From a causal word to the end of its clause ("weil …", "wegen …"), else the whole sentence."""
    ranges = []
    for i, token in enumerate(tokens):
        if token.text.casefold() in _CLAUSE_OPENERS:
            j = i + 1
            while j < len(tokens) and tokens[j].tag not in _CLAUSE_END:
                j += 1
            if j - i > 1:
                ranges.append((i, j))
    return ranges or [(0, len(tokens) - (1 if tokens and tokens[-1].tag == "$." else 0))]


def _things(tokens):
    return _phrases_and_names(tokens) + _quotations(tokens)


PROPOSERS: dict[AnswerKind, Callable[[tuple[Token, ...]], list[tuple[int, int]]]] = {
    AnswerKind.PERSON: _people,
    AnswerKind.PLACE: _places,
    AnswerKind.TIME: _times,
    AnswerKind.NUMBER: _numbers,
    AnswerKind.DURATION: _durations,
    AnswerKind.REASON: _reasons,
    AnswerKind.THING: _things,
    AnswerKind.OTHER: _things,
}


def _is_time(token: Token) -> bool:
    word = token.text.casefold()
    return word in TIME_NOUNS or (token.tag == "CARD" and bool(YEAR.fullmatch(word) or CLOCK.fullmatch(word)))


def _is_duration(tokens: tuple[Token, ...]) -> bool:
    return any(t.tag == "CARD" for t in tokens) and any(t.text.casefold() in DURATION_UNITS for t in tokens)


def _dates(tokens: tuple[Token, ...]) -> list[tuple[int, int]]:
    """ "2. März 2023": a day (an ordinal) and a month (and a year), which the phrase cutter splits."""
    ranges = []
    for i in range(len(tokens) - 1):
        if ORDINAL.fullmatch(tokens[i].text) and tokens[i + 1].text.casefold() in MONTHS:
            end = i + 2
            if end < len(tokens) and YEAR.fullmatch(tokens[end].text):
                end += 1
            ranges.append((i, end))
    return ranges


def _preposition(tokens: tuple[Token, ...], first: int) -> str:
    return tokens[first - 1].text.casefold() if first > 0 and tokens[first - 1].tag in PREPOSITIONS else ""


def _governing_preposition(tokens: tuple[Token, ...], first: int, reach: int = 3) -> str:
    """The lemma of the preposition before the phrase that starts at `first`, past its articles and adjectives
    ("gegen jeden Krieg", "zu einer zusätzlichen Erwärmung"); "" when none stands there."""
    for before in reversed(tokens[max(0, first - reach) : first]):
        if before.tag in PREPOSITIONS:
            return before.lemma.casefold()
        if before.tag not in DETERMINERS | MODIFIERS | {"ADJD"}:
            return ""
    return ""


# -- shaping ----------------------------------------------------------------------------------------------------


def is_word(token: Token) -> bool:
    """A word or number, not punctuation or a quotation mark."""
    return any(ch.isalnum() for ch in token.text)


def says(token: Token, asked: set[str]) -> bool:
    """Whether the token is one of the question's words (`asked`: its terms), or a part of it is ("Broncos" of
    "Broncos-Franchise")."""
    return bool(set(terms(token.text)) & asked)


def repeats(token: Token, asked: set[str]) -> bool:
    """Whether the token as a whole is one of the question's words: "Hockeyschläger-Diagramm" answers "Wie lautet
    der Spitzname des Diagramms?", though its last part is asked."""
    found = terms(token.text)
    return bool(found) and found[0] in asked


def _trimmed(tokens: tuple[Token, ...], i: int, j: int, asked: set[str]) -> tuple[int, int]:
    """Drop leading determiners and the question's own words from both ends of a span, "Jahr" before a year, and
    an adjective left at the end of a quantity."""

    def joiner(token: Token) -> bool:  # a span neither starts nor ends with "und", "des" or "von"
        return token.tag in DETERMINERS or token.tag in PREPOSITIONS or token.tag in {"KON", "APPO", "ART"}

    def clock(n: int) -> bool:  # "11.00 Uhr": the time of day keeps its "Uhr" even when the question says it
        return tokens[n].text == "Uhr" and n > 0 and tokens[n - 1].tag == "CARD"

    def calendar(n: int) -> bool:  # "im Jahr 1654" answers "wann" as "1654"
        return tokens[n].lemma.casefold() == "jahr" and n + 1 < j and bool(YEAR.fullmatch(tokens[n + 1].text))

    def dangling(n: int) -> bool:  # after a number, an adjective whose noun the question says: "zwei verschiedene
        # (Teams)"; without one it may be the answer: "Welche Art von Heizelement?" - "elektrisches (Heizelement)"
        word = tokens[n].text
        adjective = tokens[n].tag == "ADJA" and not ORDINAL.fullmatch(word) and not _DURATION_ADJECTIVE.fullmatch(word)
        return adjective and any(t.tag == "CARD" for t in tokens[i:n])

    def dropped(n: int) -> bool:
        return joiner(tokens[n]) or not is_word(tokens[n]) or repeats(tokens[n], asked)

    while i < j and (dropped(i) or calendar(i)):
        i += 1
    while j > i and (dropped(j - 1) or dangling(j - 1)) and not clock(j - 1):
        j -= 1
    return i, j


def _is_name_word(token: Token) -> bool:
    """A word of a name; the tagger takes a quotation mark for part of a name now and then ("„/FM Times/FM")."""
    return token.tag in NAMES and is_word(token)


def _too_long(tokens: tuple[Token, ...], i: int, j: int, kind: AnswerKind) -> bool:
    """Whether a phrase is too long to be an answer; a reason is a clause, and a title in quotation marks may be as
    long as MAX_QUOTE_WORDS."""
    quoted = any(t.text in QUOTES for t in tokens[max(0, i - 2) : j])  # "„Die Bank …“" is trimmed to "Bank …"
    return kind is not AnswerKind.REASON and not quoted and sum(map(is_word, tokens[i:j])) > MAX_PHRASE_WORDS


def _lone_letter(tokens: tuple[Token, ...], i: int, j: int) -> bool:
    """A single letter names nothing on its own: it is an initial ("Y. pestis"), part of an abbreviation ("z. B.")
    or a variable ("eine Maschine M"). A digit is a number, and "Punkt B" is two words."""
    return j - i == 1 and len(tokens[i].text) == 1 and tokens[i].text.isalpha()


def _without_title(tokens: tuple[Token, ...], i: int, j: int) -> tuple[int, int]:
    """A name without the common noun and adjectives before it: "die Oscar-Gewinnerin Marlee Matlin" and "seiner
    österreichischen Amtskollegin Karin Huber" answer with the name, as "in der Stadt Fresno" does. The name runs
    from its first word to the phrase's end: the tagger takes a last name for a noun now and then ("Qin/NE
    Gang/NN")."""
    first_name = next((n for n in range(i, j) if _is_name_word(tokens[n])), j)
    title, name = tokens[i:first_name], tokens[first_name:j]
    is_title = bool(title) and title[-1].tag == "NN" and all(t.tag in {"NN", "ADJA", "ADJD"} for t in title)
    # a noun after a one-word name may be its last name; after a longer name it starts the next phrase
    # ("Kanzlerin Angela Merkel Vertreter der Länder")
    is_name = all(map(_is_name_word, name)) or (len(name) == 2 and name[1].tag == "NN")
    if is_title and name and is_name:
        return first_name, j
    return i, j


def _splits_name(tokens: tuple[Token, ...], i: int, j: int, asked: set[str]) -> bool:
    """Whether a span cuts a name in two: "Angela" of "Angela Merkel" is not an answer of its own. A name word the
    question says, right before a span of two or more words, is another name: "der drittreichste Mann in Amerika
    Larry Ellison" answers who that man is with "Larry Ellison"; "Dortmund" alone stays part of "Borussia
    Dortmund"."""
    inner = NAMES | {"NN"}  # the tagger takes an unknown first name for a noun now and then ("Jurij/NN Gagarin/NE")

    def name_word(n: int) -> bool:
        return 0 <= n < len(tokens) and _is_name_word(tokens[n])

    def another_name(n: int) -> bool:
        return j - i >= 2 and repeats(tokens[n], asked)

    before = name_word(i - 1) and not another_name(i - 1) and tokens[i].tag in inner
    after = name_word(j) and tokens[j - 1].tag in inner
    return before or after


@lru_cache(maxsize=8192)
def propose(sentence: str, kind: AnswerKind, question: str = "") -> tuple[Candidate, ...]:
    """The spans of `sentence` that could answer a question of `kind`, trimmed of what `question` says."""
    tokens = tag(sentence)
    asked = set(terms(question))
    found: dict[tuple[int, int], Candidate] = {}
    for first, last in PROPOSERS[kind](tokens):
        i, j = first, last  # a reason is a clause, taken whole
        if kind is not AnswerKind.REASON:
            # trimmed again: a name may open with a word the question says ("Außenministerin Baerbock …")
            i, j = _trimmed(tokens, *_without_title(tokens, *_trimmed(tokens, first, last, asked)), asked)
        if (
            i >= j or (i, j) in found or _splits_name(tokens, i, j, asked) or _too_long(tokens, i, j, kind)
            or _lone_letter(tokens, i, j)
        ):  # fmt: skip
            continue
        start, end = tokens[i].start, tokens[j - 1].end
        phrase = sentence[tokens[first].start : tokens[last - 1].end]
        found[(i, j)] = Candidate(
            _shown(sentence[start:end], kind), start, end, tokens[i:j], _preposition(tokens, first), phrase,
            _governing_preposition(tokens, i),
        )
    return tuple(sorted(found.values(), key=lambda c: (c.start, c.end)))


def _shown(text: str, kind: AnswerKind) -> str:
    """ "eineinhalbstündigen" answers "wie lange" as "eineinhalb Stunden"; line breaks become spaces."""
    adjective = _DURATION_ADJECTIVE.fullmatch(text) if kind is AnswerKind.DURATION else None
    if adjective:
        return f"{adjective.group('amount')} {_ADJECTIVE_UNITS[adjective.group('unit').casefold()]}"
    return " ".join(text.split())


# -- where a candidate stands ----------------------------------------------------------------------------------


def proximity(sentence: str, candidate: Candidate, question_terms: tuple[str, ...]) -> float:
    """How close the question's words stand to the candidate in its sentence (1: all right next to it).

    Answers sit near the words that ask for them: in "830 Soldaten in Estland, weitere 140 in Polen",
    a question about Polen wants the 140.
    """
    tokens = tag(sentence)
    covered = _covered(tokens, candidate)
    if not question_terms or covered is None:
        return 0.0
    first, last = covered
    token_terms = [set(terms(t.text)) for t in tokens]
    total = 0.0
    for term in question_terms:
        gaps = [
            first - n - 1 if n < first else n - last - 1
            for n, found in enumerate(token_terms)
            if (n < first or n > last) and term in found
        ]
        if gaps:
            total += 1.0 / (1 + min(gaps))
    return total / len(question_terms)


def asked_in_clause(sentence: str, candidate: Candidate, question_terms: tuple[str, ...]) -> float:
    """The share of the question's words that stand in the candidate's own clause: in "830 Soldaten in Estland,
    weitere 140 in Polen" a question about Polen finds its words beside the 140; in "im Dezember 2018
    festgenommen und 2020 verurteilt" a question about the arrest finds its word beside 2018."""
    clause, own = 0, set()
    words: list[tuple[int, bool, set[str]]] = []
    for token in tag(sentence):
        inside = candidate.start <= token.start and token.end <= candidate.end
        if not inside and (token.tag in {"$,", "$(", "KON", "KOUS"} or token.text in {":", ";"}):
            clause += 1
            continue
        words.append((clause, inside, set(terms(token.text))))
        if inside:
            own.add(clause)
    found = set().union(*(found for c, inside, found in words if c in own and not inside))
    return len(found & set(question_terms)) / max(1, len(set(question_terms)))


def asked_beside(sentence: str, candidate: Candidate, question_terms: tuple[str, ...]) -> tuple[float, float]:
    """Whether a word of the question stands right before the candidate, and right after it, articles and
    punctuation skipped: "General Manager John Elway" answers who the general manager is; "die Broncos gewannen"
    answers who won."""
    tokens = tag(sentence)
    asked = set(question_terms)

    def neighbour(positions) -> float:
        for n in positions:
            if tokens[n].tag not in DETERMINERS and is_word(tokens[n]):
                return float(says(tokens[n], asked))
        return 0.0

    covered = _covered(tokens, candidate)
    if covered is None or not asked:
        return 0.0, 0.0
    first, last = covered
    return neighbour(range(first - 1, -1, -1)), neighbour(range(last + 1, len(tokens)))


def _covered(tokens: tuple[Token, ...], candidate: Candidate) -> tuple[int, int] | None:
    """The first and last token of the candidate in its sentence's tokens."""
    inside = [n for n, t in enumerate(tokens) if candidate.start <= t.start and t.end <= candidate.end]
    return (inside[0], inside[-1]) if inside else None
