"""Read a question, find passages by dense + BM25 search fused with reciprocal rank fusion, pick evidence sentences."""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from enum import Enum

import numpy as np

from rag.ingest import Chunk
from rag.store import Embedder, LexicalIndex, Store
from rag.text import terms
from rag.timescope import MONTHS, Period, fits, question_period, sentence_time

RRF_K = 60
OWN_WEIGHT = 0.6  # share of a sentence's evidence score from its own words; the rest from its neighbours


class AnswerKind(str, Enum):
    PLACE = "place"
    TIME = "time"
    PERSON = "person"
    NUMBER = "number"
    DURATION = "duration"
    OTHER = "other"


# First match wins; the question's opening words decide what kind of answer it wants.
_KIND_PATTERNS: list[tuple[AnswerKind, re.Pattern[str]]] = [
    (AnswerKind.DURATION, re.compile(r"\b(wie lange|how long)\b", re.I)),
    (AnswerKind.NUMBER, re.compile(r"\b(wie ?viele?|wieviel|how many|how much|wie hoch|wie alt)\b", re.I)),
    (AnswerKind.PLACE, re.compile(r"\b(wo|wohin|woher|(in|an) welche[rmn]? (stadt|land|hotel|ort|orten|ländern|städten)|where|in which (city|country))\b", re.I)),
    (AnswerKind.TIME, re.compile(r"\b(wann|an welchem (wochentag|tag|datum)|in welchem jahr|um wie ?viel uhr|seit wann|when|what time|on which day)\b", re.I)),
    (AnswerKind.PERSON, re.compile(r"\b(wer|wen|wem|wessen|mit wem|who|whom|welche[rmn]? (politiker|minister|aussenminister|außenminister|präsident|experte|expertin|beamte))\b", re.I)),
]


@dataclass(frozen=True)
class Question:
    text: str
    period: Period | None
    kind: AnswerKind
    terms: tuple[str, ...]


def read_question(text: str) -> Question:
    period = question_period(text)
    time_words = set(MONTHS) | ({str(period.year)} if period else set())
    content = [t for t in terms(text) if t not in time_words]
    kind = next((k for k, p in _KIND_PATTERNS if p.search(text)), AnswerKind.OTHER)
    return Question(text=text, period=period, kind=kind, terms=tuple(content))


@dataclass(frozen=True)
class Evidence:
    doc_id: str
    start: int
    end: int
    text: str
    coverage: float  # share of the question's idf-weighted terms in the sentence (and, less, its neighbours)
    rank: int  # rank of the passage it came from


@dataclass(frozen=True)
class Passage:
    chunk: Chunk
    score: float
    dense_rank: int | None
    lexical_rank: int | None


@dataclass(frozen=True)
class Retrieval:
    question: Question
    passages: list[Passage]
    evidence: list[Evidence]

    @property
    def coverage(self) -> float:
        return max((e.coverage for e in self.evidence), default=0.0)


def reciprocal_rank_fusion(rankings: list[list[str]], k: int = RRF_K) -> dict[str, float]:
    fused: dict[str, float] = {}
    for ranking in rankings:
        for rank, item in enumerate(ranking):
            fused[item] = fused.get(item, 0.0) + 1.0 / (k + rank + 1)
    return fused


class Retriever:
    def __init__(self, store: Store, embedder: Embedder, candidate_pool: int = 30, evidence_sentences: int = 3):
        self.store = store
        self.embedder = embedder
        self.candidate_pool = candidate_pool
        self.evidence_sentences = evidence_sentences

    def retrieve(self, question: Question, top_k: int = 5) -> Retrieval:
        index = self.store.lexical()
        by_id = {c.id: c for c in index.chunks}
        time_key = question.period.key if question.period else None

        question = replace(question, terms=tuple(index.correct(t) for t in question.terms))
        scores = index.scores(list(question.terms))
        if time_key:
            scores = scores * np.array([time_key in c.time_keys for c in index.chunks], dtype=float)
        order = np.argsort(-scores)[: self.candidate_pool]
        lexical = [index.chunks[i].id for i in order if scores[i] > 0]

        vector = self.embedder.embed([question.text])[0]
        dense = [chunk_id for chunk_id, _ in self.store.dense_search(vector, self.candidate_pool, time_key)]

        fused = reciprocal_rank_fusion([dense, lexical])
        ranked = sorted(fused, key=fused.__getitem__, reverse=True)[:top_k]
        passages = [
            Passage(
                chunk=by_id[i],
                score=fused[i],
                dense_rank=dense.index(i) if i in dense else None,
                lexical_rank=lexical.index(i) if i in lexical else None,
            )
            for i in ranked
            if i in by_id
        ]
        return Retrieval(question, passages, self._evidence(question, passages, index))

    def _evidence(self, question: Question, passages: list[Passage], index: LexicalIndex) -> list[Evidence]:
        """Score every sentence of the passages that fits the question's time, by the question terms it and its
        neighbours contain (rare terms weigh more); a sentence's own words count more than its neighbours'."""
        weights = {t: index.idf(t) for t in question.terms}
        total = sum(weights.values()) or 1.0

        def coverage(present: set[str]) -> float:
            return sum(w for t, w in weights.items() if t in present) / total

        seen: set[tuple[str, int]] = set()
        found: list[Evidence] = []
        for rank, passage in enumerate(passages):
            chunk = passage.chunk
            texts = [chunk.text[s.start - chunk.start : s.end - chunk.start] for s in chunk.sentences]
            sentence_terms = [set(terms(t)) for t in texts]
            for i, span in enumerate(chunk.sentences):
                if (chunk.doc_id, span.start) in seen or not fits(question.period, sentence_time(texts[i], chunk.date)):
                    continue
                seen.add((chunk.doc_id, span.start))
                window = set().union(*sentence_terms[max(0, i - 1) : i + 2])
                score = OWN_WEIGHT * coverage(sentence_terms[i]) + (1 - OWN_WEIGHT) * coverage(window)
                found.append(Evidence(chunk.doc_id, span.start, span.end, texts[i], score, rank))
        found.sort(key=lambda e: (-round(e.coverage, 6), e.rank, e.start))
        return found[: self.evidence_sentences]
