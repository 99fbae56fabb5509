"""Time in questions and in sentences.

A question may ask about a year or a month ("2022", "im März 2023"). A sentence is dated by what it says
("im Dezember 2021", "im vergangenen Jahr", "im Dezember" read against the article's date) and, when it says
nothing, by its article's date. Retrieval keeps only passages and sentences whose time fits the question.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

MONTHS: dict[str, int] = {
    "januar": 1,
    "jänner": 1,
    "january": 1,
    "jan": 1,
    "februar": 2,
    "february": 2,
    "feb": 2,
    "märz": 3,
    "maerz": 3,
    "march": 3,
    "april": 4,
    "apr": 4,
    "mai": 5,
    "may": 5,
    "juni": 6,
    "june": 6,
    "juli": 7,
    "july": 7,
    "august": 8,
    "aug": 8,
    "september": 9,
    "sept": 9,
    "sep": 9,
    "oktober": 10,
    "october": 10,
    "okt": 10,
    "oct": 10,
    "november": 11,
    "nov": 11,
    "dezember": 12,
    "december": 12,
    "dez": 12,
    "dec": 12,
}
_MONTH = "|".join(sorted(MONTHS, key=len, reverse=True))
_YEAR = r"(?:19|20)\d\d"
_MONTH_YEAR = re.compile(rf"\b({_MONTH})\.?\s+({_YEAR})\b", re.IGNORECASE)
_YEAR_ONLY = re.compile(rf"(?<![\d.,-])\b({_YEAR})\b(?![.,]?\d)")
# A month named without a year: "im Dezember", "am 2. März", "Anfang Februar"
_MONTH_ALONE = re.compile(
    rf"\b(?:im|in|am|seit|ab|bis|anfang|mitte|ende|\d{{1,2}}\.)\s+({_MONTH})\b(?!\.?\s+{_YEAR})", re.IGNORECASE
)
_LAST_YEAR = re.compile(
    r"\b(?:im\s+)?(?:vergangenen|letzten|vorigen)\s+jahr(?:es)?\b|\bim\s+vorjahr\b|\blast\s+year\b", re.IGNORECASE
)
_THIS_YEAR = re.compile(r"\b(?:in\s+)?diese[ms]?\s+jahr(?:es)?\b|\bthis\s+year\b", re.IGNORECASE)


@dataclass(frozen=True)
class Period:
    """A year, or a month within a year."""

    year: int
    month: int | None = None

    @classmethod
    def parse(cls, value: str | None) -> Period | None:
        """Read "2022" or "2022-01"; None for a missing or malformed date."""
        match = re.fullmatch(r"((?:19|20)\d\d)(?:-(0[1-9]|1[0-2]))?", (value or "").strip())
        if not match:
            return None
        return cls(int(match.group(1)), int(match.group(2)) if match.group(2) else None)

    def covers(self, other: Period) -> bool:
        """True when `other` lies in this period; a bare year in `other` counts as touching every month of it."""
        if self.year != other.year:
            return False
        return self.month is None or other.month is None or self.month == other.month

    def within(self, start: Period | None, end: Period | None) -> bool:
        """Whether this period overlaps [start, end]; an open bound admits everything on its side."""
        first, last = (self.year, self.month or 1), (self.year, self.month or 12)
        return (start is None or last >= (start.year, start.month or 1)) and (
            end is None or first <= (end.year, end.month or 12)
        )

    @property
    def keys(self) -> list[str]:
        """Metadata keys under which a passage about this period is filed."""
        keys = [f"t_{self.year}"]
        if self.month is not None:
            keys.append(f"t_{self.year}_{self.month:02d}")
        return keys

    @property
    def key(self) -> str:
        return self.keys[-1]

    def __str__(self) -> str:
        return f"{self.year}" if self.month is None else f"{self.year}-{self.month:02d}"


@dataclass(frozen=True)
class DateRange:
    """Articles dated within [first, last], inclusive; an open bound admits everything on its side, and an undated
    article lies outside every range."""

    first: Period | None = None
    last: Period | None = None

    def admits(self, date: Period | None) -> bool:
        return date is not None and date.within(self.first, self.last)


def question_period(question: str) -> Period | None:
    """The one period a question asks about, or None when it names no year or several."""
    month_years = {Period(int(y), MONTHS[m.casefold()]) for m, y in _MONTH_YEAR.findall(question)}
    years = {int(y) for y in _YEAR_ONLY.findall(question)}
    if len(years) != 1:
        return None
    if len(month_years) == 1:
        return next(iter(month_years))
    return Period(years.pop())


def sentence_periods(sentence: str, article: Period | None) -> set[Period]:
    """The periods a sentence talks about by its own words, with relative ones read against the article date."""
    periods = {Period(int(y), MONTHS[m.casefold()]) for m, y in _MONTH_YEAR.findall(sentence)}
    mentioned_years = {p.year for p in periods}
    periods |= {Period(int(y)) for y in _YEAR_ONLY.findall(sentence) if int(y) not in mentioned_years}
    if article is None:
        return periods
    for month_name in _MONTH_ALONE.findall(sentence):
        month = MONTHS[month_name.casefold()]
        # the nearest such month to the article's date: in January, "im Dezember" is last year's and
        # "im Februar" this year's
        year = article.year
        if article.month is not None and abs(month - article.month) > 6:
            year += 1 if month < article.month else -1
        periods.add(Period(year, month))
    if _LAST_YEAR.search(sentence):
        periods.add(Period(article.year - 1))
    if _THIS_YEAR.search(sentence):
        periods.add(Period(article.year))
    return periods


def sentence_time(sentence: str, article: Period | None) -> set[Period]:
    """When a sentence is about: what it says, or failing that its article's date."""
    said = sentence_periods(sentence, article)
    if said:
        return said
    return {article} if article is not None else set()


def fits(period: Period | None, times: set[Period]) -> bool:
    """Whether something dated `times` can answer a question about `period` (no period: everything fits)."""
    return period is None or any(period.covers(t) for t in times)
