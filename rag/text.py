"""Language helpers for German news text: sentence spans, alias folding and stemmed search terms."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

import Stemmer

# Spelling variants and transliterations that should meet in the index; each maps to the form the articles use.
ALIASES: dict[str, str] = {
    "lavrov": "lawrow",
    "lavrow": "lawrow",
    "lawrov": "lawrow",
    "sergey": "sergej",
    "sergei": "sergej",
    "geneva": "genf",
    "geneve": "genf",
    "genève": "genf",
    "new delhi": "neu delhi",
    "neu-delhi": "neu delhi",
    "newdelhi": "neu delhi",
    "india": "indien",
    "kyiv": "kiew",
    "kiev": "kiew",
    "zelensky": "selenskyj",
    "zelenskyy": "selenskyj",
    "selensky": "selenskyj",
    "russia": "russland",
    "ukraine war": "ukraine krieg",
    "foreign minister": "aussenminister",
    "außenminister": "aussenminister",
}

# Strong verb forms a stemmer cannot bring together with their infinitive.
LEMMAS: dict[str, str] = {
    **dict.fromkeys("traf trafen trifft triffst getroffen".split(), "treffen"),
    **dict.fromkeys("sprach sprachen spricht gesprochen".split(), "sprechen"),
    **dict.fromkeys("kam kamen kommt gekommen".split(), "kommen"),
    **dict.fromkeys("fand fanden findet gefunden".split(), "finden"),
    **dict.fromkeys("sah sahen sieht gesehen".split(), "sehen"),
    **dict.fromkeys("nannte nannten nennt genannt".split(), "nennen"),
    **dict.fromkeys("verliess verließ verliessen verließen verlässt verlaesst verlassen".split(), "verlassen"),
    **dict.fromkeys("warf warfen wirft geworfen".split(), "werfen"),
    **dict.fromkeys("bat baten bittet gebeten".split(), "bitten"),
    **dict.fromkeys("hielt hielten hält haelt gehalten".split(), "halten"),
    **dict.fromkeys("rief riefen ruft gerufen".split(), "rufen"),
    **dict.fromkeys("gab gaben gibt gegeben".split(), "geben"),
    **dict.fromkeys("blieb blieben bleibt geblieben".split(), "bleiben"),
    **dict.fromkeys("begegnet begegneten begegnete".split(), "begegnen"),
    **dict.fromkeys("met meet meets meeting".split(), "treffen"),
}

# Function words in German and English questions; they carry no evidence.
STOPWORDS = frozenset(
    """
    a ab als am an auch auf aus bei bin bis da das dass dem den der des die dies diese diesem diesen dieser doch du
    ein eine einem einen einer eines er es für gegen hat hatte hatten haben ich ihr im in ist ja kam kann mit nach
    nicht noch nun nur ob oder sein seine seinem seinen seiner sich sie sind so über um und uns vom von vor war waren
    was welche welchem welchen welcher welches wem wen wer werden wie wo wurde wurden zu zum zur warum wann wieso
    weshalb wohin woher womit worüber wodurch wieviel wieviele viel viele lange wessen
    the and or of in on at to for with from by is are was were did do does what where when who whom which how
    many much long why into about after before their his her its this that these those be been has have had
    """.split()
)

_WORD = re.compile(r"\w+(?:[-']\w+)*", re.UNICODE)
_ALIAS_PATTERN = re.compile(
    r"\b(" + "|".join(re.escape(k) for k in sorted(ALIASES, key=len, reverse=True)) + r")\b", re.IGNORECASE
)


def fold(text: str) -> str:
    """Casefold, apply aliases and drop accents: the shared spelling for matching."""
    text = unicodedata.normalize("NFKC", text).casefold()
    text = _ALIAS_PATTERN.sub(lambda m: ALIASES[m.group(0).casefold()], text)
    text = text.replace("ß", "ss")
    decomposed = unicodedata.normalize("NFD", text)
    # keep umlauts as ae/oe/ue so "Außenminister" and "Aussenminister" meet
    decomposed = decomposed.replace("a\u0308", "ae").replace("o\u0308", "oe").replace("u\u0308", "ue")
    return "".join(c for c in decomposed if not unicodedata.combining(c))


@lru_cache(maxsize=1)
def _stemmer() -> Stemmer.Stemmer:
    return Stemmer.Stemmer("german")


def terms(text: str) -> list[str]:
    """Stemmed content words: the vocabulary of the BM25 index and of evidence scoring."""
    words: list[str] = []
    for token in _WORD.findall(fold(text)):
        # split hyphenated compounds too ("G20-Treffen" -> g20, treffen, g20-treffen)
        parts = token.split("-") if "-" in token else []
        for word in [token.replace("-", ""), *parts]:
            if word and word not in STOPWORDS:
                word = LEMMAS.get(word, word)
                words.append(word)
                if _PARTICIPLE.fullmatch(word):
                    words.append(word[2:])  # "gedauert" also as "dauert", "gedrängt" as "drängt"
    return _stemmer().stemWords(words)


_PARTICIPLE = re.compile(r"ge[a-z]{3,}(?:t|en)")


def term_match(query_term: str, present: set[str]) -> float:
    """1 for the term itself, 0.7 for a German compound that contains it or that it contains
    ("haft" in "haftstraf", "krisengesprach" ending in "gesprach"), else 0."""
    if query_term in present:
        return 1.0
    if len(query_term) >= 4:
        for word in present:
            if len(word) >= 4 and (word.startswith(query_term) or word.endswith(query_term)
                                   or query_term.endswith(word) and len(word) >= 5):
                return 0.7
    return 0.0


@dataclass(frozen=True)
class Span:
    start: int
    end: int


_ABBREVIATIONS = frozenset(
    "z.b bzw ca dr prof st nr u.a etc l r vgl sog inkl mio mrd usw evtl ggf jh jhd mr mrs ms vs".split()
)
_SENTENCE_END = re.compile(r"[.!?…]+[»«“”\"')\]]*(?=\s+)")
_NEXT_STARTS_SENTENCE = re.compile(r"\s+[\"„“«»(]?[A-ZÄÖÜ0-9]")


def sentence_spans(text: str) -> list[Span]:
    """Split German text into sentences, returned as stripped char spans of `text`.

    Line breaks always end a sentence (headlines carry no full stop). A full stop after an ordinal number
    ("2. März") or a known abbreviation does not.
    """
    spans: list[Span] = []
    for line in re.finditer(r"[^\n]+", text):
        start = line.start()
        for end_match in _SENTENCE_END.finditer(line.group(0)):
            end = line.start() + end_match.end()
            if not _NEXT_STARTS_SENTENCE.match(text, end) or _ends_with_abbreviation(text[start:end]):
                continue
            _append_stripped(spans, text, start, end)
            start = end
        _append_stripped(spans, text, start, line.end())
    return spans


def _ends_with_abbreviation(sentence: str) -> bool:
    last = sentence.rstrip("»«“”\"')]").rstrip(".").split()
    if not last:
        return False
    word = last[-1].lstrip("(\"„“«»").casefold()
    return word in _ABBREVIATIONS or (word.isdigit() and len(word) <= 2)


def _append_stripped(spans: list[Span], text: str, start: int, end: int) -> None:
    piece = text[start:end]
    left = len(piece) - len(piece.lstrip())
    right = len(piece.rstrip())
    if right > left:
        spans.append(Span(start + left, start + right))
