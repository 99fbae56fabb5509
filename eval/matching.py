"""Matching answers against gold facts in German, independent of the system's own text handling.

NFKC + casefold, umlauts and ß folded (ä -> ae, ß -> ss), accents stripped (Genève -> geneve), punctuation to
spaces (Neu-Delhi == Neu Delhi), citation markers removed; facts match on word boundaries (Genf is not
Genfersee); a forbidden fact counts only where it is asserted, not where it is negated.
"""

from __future__ import annotations

import re
import unicodedata

_MARKERS = re.compile(r"\[\d+\]")
_NEGATIONS = frozenset("nicht kein keine keinen keinem keiner not no never nie statt anstatt".split())
_NEGATION_WINDOW = 3  # words before a fact that can negate it ("nicht in Neu-Delhi")


def normalize(text: str) -> str:
    text = _MARKERS.sub(" ", text)
    text = unicodedata.normalize("NFKC", text).casefold().replace("ß", "ss")
    for umlaut, folded in (("ä", "ae"), ("ö", "oe"), ("ü", "ue")):
        text = text.replace(umlaut, folded)
    text = "".join(c for c in unicodedata.normalize("NFD", text) if not unicodedata.combining(c))
    text = re.sub(r"[^\w\s]|_", " ", text)
    return " ".join(text.split())


def _occurrences(text: str, alias: str) -> list[re.Match[str]]:
    needle = normalize(alias)
    if not needle:
        return []
    return list(re.finditer(rf"(?<!\w){re.escape(needle)}(?!\w)", text))


def mentions(text: str, aliases: list[str]) -> bool:
    """Any alias of the fact occurs in the text."""
    normalized = normalize(text)
    return any(_occurrences(normalized, alias) for alias in aliases)


def asserts(text: str, aliases: list[str]) -> bool:
    """Some alias occurs without a negation just before it."""
    normalized = normalize(text)
    for alias in aliases:
        for match in _occurrences(normalized, alias):
            before = normalized[: match.start()].split()[-_NEGATION_WINDOW:]
            if not _NEGATIONS & set(before):
                return True
    return False


def token_f1(prediction: str, reference: str) -> float:
    predicted, gold = normalize(prediction).split(), normalize(reference).split()
    if not predicted or not gold:
        return float(predicted == gold)
    common = sum(min(predicted.count(t), gold.count(t)) for t in set(gold))
    if common == 0:
        return 0.0
    precision, recall = common / len(predicted), common / len(gold)
    return 2 * precision * recall / (precision + recall)


_LEADING_FUNCTION_WORDS = re.compile(r"^(?:(?:in|im|am|an|nach|bei|aus|auf|um|gegen|bis|der|die|das|den|dem|rund)\s+)+")


def exact_match(prediction: str, reference: str) -> bool:
    """Equal after normalising, ignoring a leading preposition or article ("In Genf" == "Genf")."""
    strip = lambda s: _LEADING_FUNCTION_WORDS.sub("", normalize(s))  # noqa: E731
    return strip(prediction) == strip(reference)
