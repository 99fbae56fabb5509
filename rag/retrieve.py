"""Find passages for a question by dense + BM25 search fused with reciprocal rank fusion; pick evidence sentences."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace

from rag.ingest import Chunk
from rag.question import Question
from rag.settings import Settings
from rag.store import Embedder, PassageStore, Vocabulary
from rag.text import term_match, terms
from rag.timescope import DateRange, fits, sentence_time

RRF_K = 60
# A sentence's evidence score mixes the question terms found in it, around it, and in its whole article.
SENTENCE_WEIGHT, WINDOW_WEIGHT, ARTICLE_WEIGHT = 0.5, 0.25, 0.25
ANSWER_BONUS = 0.25  # added to a sentence's rerank key when it holds an answer of the kind asked for
NEAR_BEST = 0.5  # sentences scoring under this share of the best one are not read for an answer


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
    best_sentence: float  # evidence score of its best sentence: the rerank key


@dataclass(frozen=True)
class Retrieval:
    question: Question
    passages: list[Passage]
    evidence: list[Evidence]  # every sentence of the passages that fits the question's time, best first
    question_places: list[tuple[str, tuple[str, ...]]] = field(default_factory=list)  # (place, its terms) per place

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
    def __init__(
        self,
        store: PassageStore,
        embedder: Embedder,
        settings: Settings | None = None,
    ) -> None:
        self.store = store
        self.embedder = embedder
        settings = settings or Settings()
        self.candidate_pool = settings.candidate_pool  # per retriever, before fusion
        self.rerank_depth = settings.rerank_depth  # fused passages whose sentences are scored

    def retrieve(
        self,
        question: Question,
        top_k: int = 5,
        answers_in: Callable[[str], bool] | None = None,
        dated: DateRange | None = None,
    ) -> Retrieval:
        """The top_k passages for the question (with `dated`, of articles dated in that range). `answers_in` tells
        whether a sentence holds an answer of the kind asked for; passages with such a sentence rank higher."""
        vocabulary = self.store.vocabulary()
        time_key = question.period.key if question.period else None

        question = replace(question, terms=tuple(vocabulary.correct(t) for t in question.terms))
        lexical = self.store.lexical_search(list(question.terms), self.candidate_pool, time_key, dated)

        vector = self.embedder.embed([question.text])[0]
        dense = [chunk_id for chunk_id, _ in self.store.dense_search(vector, self.candidate_pool, time_key, dated)]

        fused = reciprocal_rank_fusion([dense, lexical])
        by_id = self.store.chunks(fused)
        pool = [i for i in sorted(fused, key=fused.__getitem__, reverse=True) if i in by_id]
        pool = pool[: max(top_k, self.rerank_depth)]
        coverage = _Coverage(question, vocabulary)
        scored = [self._score_sentences(question, by_id[i], coverage) for i in pool]
        # rerank the fused pool by each passage's best sentence: the passage that states the answer comes first
        top = max((e.coverage for sentences in scored for e in sentences), default=0.0)

        def rerank_key(e: Evidence) -> float:  # only sentences near the best are read for an answer: it costs
            holds_answer = answers_in is not None and e.coverage >= NEAR_BEST * top and answers_in(e.text)
            return e.coverage + (ANSWER_BONUS if holds_answer else 0.0)

        best = [max(map(rerank_key, sentences), default=0.0) for sentences in scored]
        order = sorted(range(len(pool)), key=lambda n: (-round(best[n], 6), n))[:top_k]
        passages = [
            Passage(
                chunk=by_id[pool[n]],
                score=fused[pool[n]],
                dense_rank=dense.index(pool[n]) if pool[n] in dense else None,
                lexical_rank=lexical.index(pool[n]) if pool[n] in lexical else None,
                best_sentence=best[n],
            )
            for n in order
        ]
        evidence: dict[tuple[str, int], Evidence] = {}
        for rank, n in enumerate(order):
            for sentence in scored[n]:
                evidence.setdefault((sentence.doc_id, sentence.start), replace(sentence, rank=rank))
        ranked_evidence = sorted(evidence.values(), key=lambda e: (-round(e.coverage, 6), e.rank, e.start))
        places = [(place, tuple(map(vocabulary.correct, terms(place)))) for place in question.places]
        return Retrieval(question, passages, ranked_evidence, [(p, t) for p, t in places if t])

    def _score_sentences(self, question: Question, chunk: Chunk, coverage: _Coverage) -> list[Evidence]:
        """Score each sentence of a passage that fits the question's time by the question terms in it, next to
        it and in its article (rare terms weigh more)."""
        article_coverage = coverage.of_article(chunk.doc_id)
        texts = [chunk.text[s.start - chunk.start : s.end - chunk.start] for s in chunk.sentences]
        sentence_terms = [set(terms(t)) for t in texts]
        found = []
        for i, span in enumerate(chunk.sentences):
            # a dated article's sentences are dated one by one; an undated article is filed under every period
            # it names (ingest), so "Wann wurde X 1850 gegründet?" reads all of an article that mentions 1850
            if chunk.date is not None and not fits(question.period, sentence_time(texts[i], chunk.date)):
                continue
            window = set().union(*sentence_terms[max(0, i - 1) : i + 2])
            score = (
                SENTENCE_WEIGHT * coverage(sentence_terms[i])
                + WINDOW_WEIGHT * coverage(window)
                + ARTICLE_WEIGHT * article_coverage
            )
            found.append(Evidence(chunk.doc_id, span.start, span.end, texts[i], score, rank=0))
        return found


class _Coverage:
    """The idf-weighted share of the question's terms found in a set of terms; an article's share is worked out
    once per question, since the pool often holds several of its chunks and its vocabulary is large."""

    def __init__(self, question: Question, vocabulary: Vocabulary) -> None:
        self.vocabulary = vocabulary
        self.weights = {t: vocabulary.idf(t) for t in question.terms}
        self.total = sum(self.weights.values()) or 1.0
        self.articles: dict[str, float] = {}

    def __call__(self, present: set[str] | frozenset[str]) -> float:
        return sum(w * term_match(t, present) for t, w in self.weights.items()) / self.total

    def of_article(self, doc_id: str) -> float:
        if doc_id not in self.articles:
            self.articles[doc_id] = self(self.vocabulary.terms_of_article(doc_id))
        return self.articles[doc_id]
