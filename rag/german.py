"""German word classes from HanTa (the Hanover Tagger, whose model ships in its wheel): each token of a sentence
with its char offsets, its STTS part-of-speech tag and its lemma."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

ORDINAL = re.compile(r"\d{1,2}\.")  # "18." of "18. Jahrhundert", "2." of "2. März"
INITIAL = re.compile(r"[A-ZÄÖÜ]\.")  # "T." of "Paul T. Stallsworth"
# numbers with separators first ("100.000", "1,5", "11.00"), an ordinal with its full stop inside a sentence
# (tag() reads one sentence at a time, so a full stop before more words ends none), an initial before a name,
# then words with inner hyphens or apostrophes, then any other single character
_TOKEN = re.compile(
    rf"\d+(?:[.,:]\d+)+|{ORDINAL.pattern}(?=\s+\w)|{INITIAL.pattern}(?=\s+[A-ZÄÖÜ])|\w+(?:[-'’]\w+)*-?|[^\w\s]"
)


@dataclass(frozen=True)
class Token:
    text: str
    start: int  # offsets in the tagged text
    end: int
    tag: str  # STTS, as HanTa gives it: NN, NE, ADJA, APPR, CARD, VVFIN, $. …
    lemma: str

    @property
    def nominal(self) -> bool:
        """A noun or a name: the head of a noun phrase."""
        return self.tag in NOMINAL

    @property
    def name(self) -> bool:
        return self.tag in NAME_TAGS


NOMINAL = frozenset({"NN", "NE", "NNI", "NNA", "FM", "XY"})
NAME_TAGS = frozenset({"NE", "NNI", "FM"})


@lru_cache(maxsize=1)
def _tagger():
    from HanTa import HanoverTagger

    return HanoverTagger.HanoverTagger("morphmodel_ger.pgz")


@lru_cache(maxsize=8192)  # retrieval and answering look at the same evidence sentences
def tag(text: str) -> tuple[Token, ...]:
    """Tokens of one sentence with STTS tags and lemmas."""
    matches = list(_TOKEN.finditer(text))
    if not matches:
        return ()
    tagged = _tagger().tag_sent([m.group(0) for m in matches], taglevel=1)
    return tuple(
        Token(m.group(0), m.start(), m.end(), _plain_tag(pos, m.group(0)), lemma)
        for m, (_, lemma, pos) in zip(matches, tagged)
    )


def _plain_tag(pos: str, word: str) -> str:
    """HanTa writes "VV(FIN)" and "ADJ(A)"; STTS writes VVFIN and ADJA. Digits are numbers, and digits with a
    full stop ordinals ("18. Jahrhundert"), a capital with a full stop an initial, part of a name, whatever the
    model guesses."""
    if re.fullmatch(r"\d+(?:[.,:]\d+)*", word):
        return "CARD"
    if ORDINAL.fullmatch(word):
        return "ADJA"
    if INITIAL.fullmatch(word):
        return "NE"
    return pos.replace("(", "").replace(")", "")
