"""From retrieved evidence to a short German answer with verified verbatim citations, or an honest abstention."""

from __future__ import annotations

import re
import threading
import time
from dataclasses import dataclass, field
from importlib import resources
from string import Template

from rag.candidates import Candidate, extract, in_asked_clause, proximity
from rag.llm import Generator
from rag.retrieve import (
    AnswerKind,
    Evidence,
    Passage,
    Question,
    Retrieval,
    Retriever,
    read_question,
)
from rag.settings import Settings
from rag.store import Store
from rag.text import fold
from rag.timescope import Period

ABSTAIN_ANSWER = "Dazu finde ich in den Artikeln keine Antwort."
NEAR_BEST = 0.5  # evidence sentences scoring under this share of the best one are left out of the prompt


@dataclass(frozen=True)
class Citation:
    n: int
    doc_id: str
    source: str
    date: str | None
    quote: str
    char_start: int
    char_end: int


@dataclass
class Answer:
    question: str
    answer: str
    abstained: bool
    citations: list[Citation] = field(default_factory=list)
    timings_ms: dict[str, int] = field(default_factory=dict)
    reason: str | None = None  # why it abstained
    retrieval: Retrieval | None = None


@dataclass(frozen=True)
class Scored:
    candidate: Candidate
    evidence: Evidence
    score: float


def render_prompt(name: str, **values: str) -> str:
    """Fill a prompt file from prompts/; values are data, and a missing one is an error."""
    text = resources.files("prompts").joinpath(f"{name}.txt").read_text(encoding="utf-8")
    return Template(text).substitute(values).rstrip("\n")


class Answerer:
    def __init__(
        self,
        store: Store,
        retriever: Retriever,
        generator: Generator,
        settings: Settings | None = None,
    ) -> None:
        self.store = store
        self.retriever = retriever
        self.generator = generator
        self.settings = settings or Settings()

    def ask(self, question_text: str, top_k: int = 5) -> Answer:
        started = time.perf_counter()
        retrieval = self.retrieve(question_text, top_k)
        return self.answer_from(retrieval, started=started)

    def answer_from(
        self, retrieval: Retrieval, started: float | None = None, cancel: threading.Event | None = None
    ) -> Answer:
        """Answer from what was retrieved; `cancel` set by another thread stops the model early (Cancelled)."""
        question = retrieval.question
        retrieved = time.perf_counter()
        started = retrieved if started is None else started

        def finish(answer: Answer) -> Answer:
            done = time.perf_counter()
            answer.retrieval = retrieval
            answer.timings_ms = {
                "retrieve": round((retrieved - started) * 1000),
                "generate": round((done - retrieved) * 1000),
                "total": round((done - started) * 1000),
            }
            return answer

        def abstain(reason: str) -> Answer:
            return finish(Answer(question.text, ABSTAIN_ANSWER, True, reason=reason))

        if not retrieval.evidence:
            return abstain("no passage fits the question" + (f" in {question.period}" if question.period else ""))
        if retrieval.coverage < self.settings.min_coverage:
            return abstain(f"weak evidence (coverage {retrieval.coverage:.2f})")
        best = self._choose(retrieval, cancel)
        if best is None:
            return abstain(f"no {question.kind.value} in the evidence")
        if best.score < self.settings.min_answer_logprob:
            return abstain(f"low answer score ({best.score:.2f})")
        unmet = self._unmet_places(question, best)
        if unmet:
            return abstain(f"the answer's article never mentions {', '.join(unmet)}")
        citations = self._cite(best, retrieval.evidence)
        if not citations:
            return abstain("no citation could be verified")
        markers = "".join(f"[{c.n}]" for c in citations)
        return finish(Answer(question.text, _phrase(best.candidate.text, question.kind, markers), False, citations))

    def retrieve(self, question_text: str, top_k: int = 5) -> Retrieval:
        """Passages for the question, those holding an answer of the wanted kind first."""
        question = read_question(question_text)
        answers_in = None
        if question.kind is not AnswerKind.OTHER:
            answers_in = lambda sentence: bool(extract(sentence, question.kind, question.text))  # noqa: E731
        return self.retriever.retrieve(question, top_k, answers_in)

    def search(
        self, query: str, top_k: int = 5, date_from: Period | None = None, date_to: Period | None = None
    ) -> list[Passage]:
        """Ranked passages without an answer, limited to articles dated within [date_from, date_to]."""
        pool = self.retrieve(query, max(top_k, self.settings.rerank_depth)).passages
        if date_from is None and date_to is None:
            return pool[:top_k]
        return [p for p in pool if p.chunk.date is not None and p.chunk.date.within(date_from, date_to)][:top_k]

    def _choose(self, retrieval: Retrieval, cancel: threading.Event | None = None) -> Scored | None:
        """Let the model pick the answer among the candidate spans of the best evidence sentences."""
        question = retrieval.question
        usable = [(e, extract(e.text, question.kind, question.text)) for e in retrieval.evidence]
        usable = [(e, found) for e, found in usable if found]
        if not usable:
            return None
        # only sentences nearly as well supported as the best one compete
        floor = NEAR_BEST * usable[0][0].coverage
        usable = [(e, found) for e, found in usable if e.coverage >= floor][: self.settings.prompt_sentences]
        best_tier = min(c.tier for _, found in usable for c in found)
        usable = [(e, _in_asked_clauses([c for c in found if c.tier == best_tier], e, question)) for e, found in usable]
        evidence_text = " ".join(e.text for e, _ in usable)
        options = list(dict.fromkeys(c.text for _, found in usable for c in found))
        continuations = [" " + text for text in options]
        token_logprobs = self.generator.logprobs(self._prompt(evidence_text, question.text), continuations, cancel)
        lm = [sum(t) / len(t) if t else float("-inf") for t in token_logprobs]  # mean: measured best
        by_text = dict(zip(options, lm))
        scored = [
            Scored(
                c,
                e,
                by_text[c.text]
                + self.settings.evidence_weight * e.coverage
                + self.settings.proximity_weight * proximity(e.text, c, question.terms),
            )
            for e, found in usable
            for c in found
        ]
        return max(scored, key=lambda s: s.score)

    def _unmet_places(self, question: Question, best: Scored) -> list[str]:
        """Places the question names ("… in Stockholm?") that the answer's article never mentions: an answer
        from elsewhere would answer another question."""
        if question.kind is AnswerKind.PLACE:
            return []
        article = fold(self.store.document(best.evidence.doc_id).text)
        places = [c.core for c in extract(question.text, AnswerKind.PLACE) if c.tier == 0]
        return [p for p in places if not re.search(rf"(?<!\w){re.escape(fold(p))}", article)]

    def _prompt(self, evidence: str, question: str) -> str:
        user_message = render_prompt("answer_chat", evidence=evidence, question=question)
        return self.generator.chat_prompt(user_message) or render_prompt("answer", evidence=evidence, question=question)

    def _cite(self, best: Scored, evidence: list[Evidence]) -> list[Citation]:
        """Cite the chosen sentence, and other articles' evidence sentences that state the same answer."""
        answer = fold(best.candidate.core)
        supporting = [best.evidence] + [
            e for e in evidence if e.doc_id != best.evidence.doc_id and _contains_words(fold(e.text), answer)
        ]
        citations: list[Citation] = []
        cited_docs: set[str] = set()
        for item in supporting:
            if item.doc_id in cited_docs:
                continue
            document = self.store.document(item.doc_id)
            quote = document.text[item.start : item.end]
            if quote != item.text:  # the stored text changed under us: never send an unverified quote
                continue
            cited_docs.add(item.doc_id)
            citations.append(
                Citation(
                    n=len(citations) + 1,
                    doc_id=item.doc_id,
                    source=document.source,
                    date=str(document.date) if document.date else None,
                    quote=quote,
                    char_start=item.start,
                    char_end=item.end,
                )
            )
        return citations


def _in_asked_clauses(candidates: list[Candidate], evidence: Evidence, question: Question) -> list[Candidate]:
    """Of several candidates in one sentence, those in a clause that holds a word of the question (all of them
    when none does)."""
    asked = [c for c in candidates if in_asked_clause(evidence.text, c, question.terms)]
    return asked or candidates


def _contains_words(text: str, phrase: str) -> bool:
    return re.search(rf"(?<!\w){re.escape(phrase)}(?!\w)", text) is not None


def _phrase(span: str, kind: AnswerKind, markers: str) -> str:
    """A short German answer: the chosen span with a capital first letter, the citation markers and a full stop."""
    text = span.strip().rstrip(".,;:")
    if kind is not AnswerKind.OTHER:
        text = text[:1].upper() + text[1:]
    return f"{text} {markers}." if not text.endswith(("!", "?", "“", "»", '"')) else f"{text} {markers}"
