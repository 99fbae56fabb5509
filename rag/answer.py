"""From retrieved evidence to a short German answer with verified verbatim citations, or an honest abstention."""

from __future__ import annotations

import logging
import math
import re
import threading
import time
from dataclasses import dataclass, field, replace
from importlib import resources
from string import Template

from rag.errors import DocumentNotFound
from rag.llm import Generator
from rag.question import AnswerKind, Question, load_aliases, read_question
from rag.retrieve import NEAR_BEST, Evidence, Passage, Retrieval, Retriever
from rag.spans import (
    CLOCK, LOCATIVE, WEEKDAYS, Candidate, asked_beside, asked_in_clause, is_word, propose, proximity, repeats,
)  # fmt: skip
from rag.settings import Settings
from rag.store import PassageStore
from rag.text import fold, terms
from rag.timescope import MONTHS, DateRange

ABSTAIN_ANSWER = "Dazu finde ich in den Artikeln keine Antwort."
log = logging.getLogger(__name__)
# kinds whose answers have a shape the grammar shows (names, numbers, dates); the others are open
TYPED_KINDS = frozenset({AnswerKind.PERSON, AnswerKind.PLACE, AnswerKind.TIME, AnswerKind.NUMBER, AnswerKind.DURATION})


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
class Features:
    """What speaks for a candidate; each is a plain number so that the weights can be fitted on dev data."""

    evidence: float  # how much of the question its sentence (and neighbours, and article) covers
    top_sentence: float  # 1 in the best-covered sentence
    proximity: float  # how close the question's words stand to it
    asked_clause: float  # the share of the question's words in its own clause
    asked_before: float  # 1 when a word of the question stands right before it ("Trainer Jürgen Klopp")
    asked_after: float  # 1 when one stands right after it ("Klopp trainierte")
    asked_preposition: float  # 1 when it hangs on the preposition the question asks with ("Wozu" - "zur Wahl")
    kind_fit: float  # 1 when it has the shape a typed question asks for (a name for "wer", a number for "wie viele")
    open_kind_fit: float  # the same for open questions ("welche X", "was", "wie"): weaker evidence, its own weight
    name: float  # 1 when it holds a proper name
    number: float  # 1 when it holds a number
    repeats_question: float  # share of its words the question already says
    length: float  # log of its length in words
    model_mean: float = 0.0  # the model's mean token log-probability of it as the answer (0 until scored)
    model_sum: float = 0.0  # the same, summed over its tokens


@dataclass(frozen=True)
class Scored:
    candidate: Candidate
    evidence: Evidence
    features: Features
    score: float = float("-inf")


def render_prompt(name: str, **values: str) -> str:
    """Fill a prompt file from prompts/; values are data, and a missing one is an error."""
    text = resources.files("prompts").joinpath(f"{name}.txt").read_text(encoding="utf-8")
    return Template(text).substitute(values).rstrip("\n")


class Answerer:
    def __init__(
        self,
        store: PassageStore,
        retriever: Retriever,
        generator: Generator,
        settings: Settings | None = None,
    ) -> None:
        self.store = store
        self.retriever = retriever
        self.generator = generator
        self.settings = settings or Settings()
        self.aliases = load_aliases(self.settings.aliases_path)

    def ask(self, question_text: str, top_k: int = 5) -> Answer:
        started = time.perf_counter()
        retrieval = self.retrieve(question_text, top_k)
        return self.answer_from(retrieval, started=started)

    def answer_from(
        self, retrieval: Retrieval, started: float | None = None, cancel: threading.Event | None = None
    ) -> Answer:
        """Answer from what was retrieved, or abstain with the reason; `cancel` set by another thread stops the
        model early (Cancelled)."""
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
            if answer.abstained:
                log.info("abstained on %r: %s", question.text, answer.reason)
            return answer

        reason = self._no_evidence(retrieval) or self._weak_evidence(retrieval) or self._unmet_places(retrieval)
        best = None if reason else self.choose(retrieval, cancel)
        reason = reason or self._no_candidate(question, best) or self._low_score(best)
        citations = [] if reason else self._cite(best, retrieval.evidence)
        reason = reason or self._unverified(citations)
        if reason:
            return finish(Answer(question.text, ABSTAIN_ANSWER, True, reason=reason))
        markers = "".join(f"[{c.n}]" for c in citations)
        return finish(Answer(question.text, _phrase(best.candidate.text, markers), False, citations))

    def retrieve(self, question_text: str, top_k: int = 5, dated: DateRange | None = None) -> Retrieval:
        """Passages for the question, those holding an answer of the wanted kind first; with `dated`, only from
        articles dated in that range."""
        question = read_question(question_text, self.aliases)
        answers_in = lambda sentence: bool(propose(sentence, question.kind, question.text))  # noqa: E731
        return self.retriever.retrieve(question, top_k, answers_in, dated)

    def search(self, query: str, top_k: int = 5, dated: DateRange | None = None) -> list[Passage]:
        """Ranked passages without an answer; with `dated`, only from articles dated in that range. They are
        ranked by their evidence alone: tagging sentences to find an answer's shape was half of a search's time."""
        return self.retriever.retrieve(read_question(query, self.aliases), top_k, dated=dated).passages

    # -- choosing the answer ---------------------------------------------------------------------------------

    def choose(self, retrieval: Retrieval, cancel: threading.Event | None = None) -> Scored | None:
        """The best candidate span of the best evidence sentences: the features shortlist, the model decides."""
        shortlist = self.shortlist(retrieval, self.settings.model_candidates, cancel)
        return max(shortlist, key=lambda p: p.score) if shortlist else None

    def shortlist(self, retrieval: Retrieval, size: int, cancel: threading.Event | None = None) -> list[Scored]:
        """The `size` candidates the features rank highest, each scored by the model and then in full."""
        ranked = sorted(self.proposals(retrieval), key=lambda p: -answer_score(p.features, self.settings))
        # the prompt holds the sentences of the best-ranked candidates, and its length is most of the cost
        sentences = list(dict.fromkeys(p.evidence for p in ranked))[: self.settings.prompt_sentences]
        shortlist = [p for p in ranked if p.evidence in sentences][:size]
        if not shortlist:
            return []
        sentences = sorted(sentences, key=lambda e: (e.doc_id, e.start))
        options = list(dict.fromkeys(p.candidate.text for p in shortlist))
        prompt = self._prompt(" ".join(e.text for e in sentences), retrieval.question.text)
        token_logprobs = self.generator.logprobs(prompt, [" " + text for text in options], cancel)
        likelihood = dict(zip(options, token_logprobs))
        scored = [replace(p, features=with_model(p.features, likelihood[p.candidate.text])) for p in shortlist]
        return [replace(p, score=answer_score(p.features, self.settings)) for p in scored]

    def proposals(self, retrieval: Retrieval) -> list[Scored]:
        """Every candidate span of the best evidence sentences that hold one, down to half the best's coverage."""
        question = retrieval.question
        floor = NEAR_BEST * retrieval.coverage
        proposals: list[Scored] = []
        read = 0  # the best sentences that hold a candidate: a "wie lange" answer may stand in the eighth best
        for e in self._in_named_places(retrieval):
            if e.coverage < floor or read == self.settings.answer_sentences:
                break
            candidates = propose(e.text, question.kind, question.text)
            proposals += [Scored(c, e, features(c, e, question, top=read == 0)) for c in candidates]
            read += bool(candidates)
        return proposals

    def _prompt(self, evidence: str, question: str) -> str:
        user_message = render_prompt("answer_chat", evidence=evidence, question=question)
        return self.generator.chat_prompt(user_message) or render_prompt("answer", evidence=evidence, question=question)

    # -- abstention checks: each returns the reason to abstain, or None ------------------------------------

    @staticmethod
    def _no_evidence(retrieval: Retrieval) -> str | None:
        if retrieval.evidence:
            return None
        period = retrieval.question.period
        return "no passage fits the question" + (f" in {period}" if period else "")

    def _weak_evidence(self, retrieval: Retrieval) -> str | None:
        if retrieval.coverage >= self.settings.min_coverage:
            return None
        return f"weak evidence (coverage {retrieval.coverage:.2f} < {self.settings.min_coverage})"

    @staticmethod
    def _no_candidate(question: Question, best: Scored | None) -> str | None:
        return f"no {question.kind.value} in the evidence" if best is None else None

    @staticmethod
    def _unverified(citations: list[Citation]) -> str | None:
        return None if citations else "no citation could be verified"

    def _low_score(self, best: Scored) -> str | None:
        if best.score >= self.settings.min_answer_score:
            return None
        return f"low answer score ({best.score:.2f} < {self.settings.min_answer_score})"

    def _unmet_places(self, retrieval: Retrieval) -> str | None:
        if self._in_named_places(retrieval):
            return None
        places = ", ".join(place for place, _ in retrieval.question_places)
        return f"no article that holds the evidence mentions {places}"

    def _in_named_places(self, retrieval: Retrieval) -> list[Evidence]:
        """Evidence from articles that mention every place the question names ("… in Stockholm?"): an answer
        from elsewhere would answer another question."""
        if not retrieval.question_places:
            return retrieval.evidence
        vocabulary = self.store.vocabulary()
        return [
            e for e in retrieval.evidence
            if all(_mentions(vocabulary.terms_of_article(e.doc_id), found) for _, found in retrieval.question_places)
        ]  # fmt: skip

    def _cite(self, best: Scored, evidence: list[Evidence]) -> list[Citation]:
        """Cite the chosen sentence, and other articles' evidence sentences that state the same answer."""
        answer = fold(best.candidate.text)
        supporting = [best.evidence] + [
            e for e in evidence if e.doc_id != best.evidence.doc_id and _contains_words(fold(e.text), answer)
        ]
        citations: list[Citation] = []
        cited_docs: set[str] = set()
        for item in supporting:
            if item.doc_id in cited_docs:
                continue
            try:
                document = self.store.document(item.doc_id)
            except DocumentNotFound:  # deleted since it was retrieved (another replica, a Chroma server)
                continue
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


def features(candidate: Candidate, evidence: Evidence, question: Question, top: bool) -> Features:
    words = [t for t in candidate.tokens if is_word(t)]
    asked = set(question.terms)
    typed = question.kind in TYPED_KINDS
    fit = float(fits_kind(candidate, question))
    before, after = asked_beside(evidence.text, candidate, question.terms)
    return Features(
        evidence=evidence.coverage,
        top_sentence=float(top),
        proximity=proximity(evidence.text, candidate, question.terms),
        asked_clause=asked_in_clause(evidence.text, candidate, question.terms),
        asked_before=before,
        asked_after=after,
        asked_preposition=float(question.preposition is not None and candidate.governed_by == question.preposition),
        kind_fit=fit if typed else 0.0,
        open_kind_fit=0.0 if typed else fit,
        name=float(candidate.has_name),
        number=float(candidate.has_number),
        repeats_question=sum(repeats(t, asked) for t in words) / max(1, len(words)),
        length=math.log(candidate.words),
    )


def answer_score(features: Features, settings: Settings) -> float:
    """The one place where the model's likelihood meets the other features: a weighted sum, the weights fitted on
    dev data (eval/fit_answer_weights.py). Before the model has read a candidate, its likelihood counts 0."""
    return sum(settings.answer_weights.get(name, 0.0) * value for name, value in vars(features).items())


def with_model(features: Features, token_logprobs: list[float]) -> Features:
    """The features with the model's likelihood of the candidate as the answer."""
    if not token_logprobs:
        return replace(features, model_mean=-100.0, model_sum=-100.0)
    total = sum(token_logprobs)
    return replace(features, model_mean=total / len(token_logprobs), model_sum=total)


def fits_kind(candidate: Candidate, question: Question) -> bool:
    """Whether the candidate has the shape of the answer asked for."""
    match question.kind:
        case AnswerKind.PERSON:
            return candidate.has_name
        case AnswerKind.PLACE:
            return candidate.has_name and candidate.preposition in LOCATIVE
        case AnswerKind.TIME:
            return _has_asked_unit(candidate, question.text)
        case AnswerKind.NUMBER | AnswerKind.DURATION:
            return candidate.has_number
        case AnswerKind.THING if question.focus:
            return _is_a(candidate.phrase, question.focus) or candidate.has_name
        case AnswerKind.REASON:
            return True
        case _:
            return candidate.words <= 4


def _has_asked_unit(candidate: Candidate, question: str) -> bool:
    """A time of the unit the question names ("An welchem Wochentag" wants a weekday), else any time."""
    words = {t.text.casefold() for t in candidate.tokens}
    asked = question.casefold()
    if "wochentag" in asked or re.search(r"welche[mn] tag\b", asked):
        return bool(words & set(WEEKDAYS))
    if "uhr" in asked.split() or "uhrzeit" in asked:
        return any(CLOCK.fullmatch(w) for w in words) or "uhr" in words
    if re.search(r"welche[mn] monat", asked):
        return bool(words & set(MONTHS))
    if re.search(r"welche[mn] jahr\b", asked):
        return any(re.fullmatch(r"\d{3,4}", w) for w in words)
    return candidate.has_time_word or candidate.has_number


def _is_a(phrase: str, focus: str) -> bool:
    """Whether the phrase names a `focus`, alone or as the head of a compound ("Metropolregion" is a "Region")."""
    wanted = terms(focus)
    return bool(wanted) and any(term.endswith(wanted[0]) for term in terms(phrase))


def _mentions(article_terms: frozenset[str], place_terms: tuple[str, ...]) -> bool:
    """ "Neu-Delhi" (terms neudelhi, neu, delhi) is mentioned as "Neu-Delhi" or as "Neu Delhi"."""
    whole, parts = place_terms[0], place_terms[1:]
    return whole in article_terms or bool(parts) and all(p in article_terms for p in parts)


def _contains_words(text: str, phrase: str) -> bool:
    return re.search(rf"(?<!\w){re.escape(phrase)}(?!\w)", text) is not None


def _phrase(span: str, markers: str) -> str:
    """A short German answer: the chosen span with a capital first letter, the citation markers and a full stop."""
    text = span.strip().rstrip(".,;:")
    text = text[:1].upper() + text[1:]
    return f"{text} {markers}." if not text.endswith(("!", "?", "“", "»", '"')) else f"{text} {markers}"
