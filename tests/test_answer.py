import dataclasses

import pytest

from rag.answer import ABSTAIN_ANSWER, Answerer, render_prompt
from rag.errors import DocumentNotFound
from rag.retrieve import Retriever
from rag.services import ingest_folder
from rag.settings import Settings
from tests.conftest import FakeGenerator

GENEVA_ARTICLES = {"002_606d4c18b25b7e8e", "003_6f9f40feec1ab3b1", "004_26328b77b207f0a4"}


@pytest.fixture
def filled_store(store, articles_dir):
    ingest_folder(store, articles_dir, Settings(store_dir=store.folder))
    return store


def answerer(store, generator, **options):
    return Answerer(store, Retriever(store, store.embedder), generator, Settings(**options))


def test_the_model_chooses_the_span_and_every_citation_is_verbatim(filled_store):
    generator = FakeGenerator(preferred=["Genf"])
    answer = answerer(filled_store, generator).ask("Wo trafen sich Blinken und Lawrow 2022?")
    assert not answer.abstained
    assert answer.answer.startswith("Genf [1]")
    assert answer.citations and {c.doc_id for c in answer.citations} <= GENEVA_ARTICLES
    for citation in answer.citations:
        text = filled_store.document(citation.doc_id).text
        assert text[citation.char_start : citation.char_end] == citation.quote
        assert "Genf" in citation.quote
        assert f"[{citation.n}]" in answer.answer
    assert "Frage: Wo trafen sich Blinken und Lawrow 2022?" in generator.prompts[0]


def test_the_time_scope_keeps_other_years_out(filled_store):
    generator = FakeGenerator(preferred=["Genf", "Neu Delhi", "Neu-Delhi"])
    answer = answerer(filled_store, generator).ask("Wo trafen sich Blinken und Lawrow 2023?")
    assert "Neu" in answer.answer and "Genf" not in answer.answer
    assert all(c.date == "2023-03" for c in answer.citations)


@pytest.mark.parametrize(
    "question",
    [
        "Wo trafen sich Blinken und Lawrow 2024?",
        "Wie hoch ist der Eiffelturm?",
        "Wo trafen sich Blinken und Lawrow im März 2022?",
    ],
)
def test_abstains_when_the_articles_do_not_answer(filled_store, question):
    answer = answerer(filled_store, FakeGenerator(preferred=["Genf"])).ask(question)
    assert answer.abstained and answer.answer == ABSTAIN_ANSWER and answer.citations == []
    assert answer.reason


def test_abstains_when_the_model_finds_no_span_likely(filled_store):
    answer = answerer(filled_store, FakeGenerator(preferred=[]), answer_weights={"model_mean": 1.0}, min_answer_score=-4.0).ask(
        "Wo trafen sich Blinken und Lawrow 2022?"
    )
    assert answer.abstained and "low answer score" in answer.reason


def test_a_quote_that_no_longer_matches_the_document_is_never_sent(filled_store, monkeypatch):
    real_document = filled_store.document

    def shifted(doc_id):
        document = real_document(doc_id)
        return dataclasses.replace(document, text="X" + document.text)

    monkeypatch.setattr(filled_store, "document", shifted)
    answer = answerer(filled_store, FakeGenerator(preferred=["Genf"])).ask("Wo trafen sich Blinken und Lawrow 2022?")
    assert answer.abstained and answer.citations == []
    assert answer.reason == "no citation could be verified"


def test_a_document_deleted_since_retrieval_is_not_cited_and_the_others_still_are(filled_store, monkeypatch):
    question = "Wo trafen sich Blinken und Lawrow 2022?"
    cited = answerer(filled_store, FakeGenerator(preferred=["Genf"])).ask(question).citations
    assert len(cited) >= 2, "needs an answer that several articles state"
    real_document = filled_store.document

    def first_one_deleted(doc_id):
        if doc_id == cited[0].doc_id:
            raise DocumentNotFound(f"no document {doc_id!r}")
        return real_document(doc_id)

    monkeypatch.setattr(filled_store, "document", first_one_deleted)
    answer = answerer(filled_store, FakeGenerator(preferred=["Genf"])).ask(question)
    assert not answer.abstained
    assert [c.doc_id for c in answer.citations] == [c.doc_id for c in cited[1:]]
    assert [c.n for c in answer.citations] == list(range(1, len(cited)))


def test_a_chat_model_gets_its_template(filled_store):
    generator = FakeGenerator(preferred=["Genf"], chat=True)
    answerer(filled_store, generator).ask("Wo trafen sich Blinken und Lawrow 2022?")
    assert generator.prompts[0].startswith("<user>Beantworte") and "Antwort:" not in generator.prompts[0]


def test_prompts_treat_document_text_as_data_and_refuse_missing_values():
    rendered = render_prompt("answer", evidence="Preis: ${question} $5", question="Wie teuer?")
    assert "Preis: ${question} $5" in rendered and rendered.endswith("Antwort:")
    with pytest.raises(KeyError):
        render_prompt("answer", evidence="x")


def test_timings_are_reported(filled_store):
    answer = answerer(filled_store, FakeGenerator(preferred=["Genf"])).ask("Wo trafen sich Blinken und Lawrow 2022?")
    assert set(answer.timings_ms) == {"retrieve", "generate", "total"}
    assert answer.timings_ms["total"] >= answer.timings_ms["retrieve"]


def test_only_articles_that_mention_the_named_place_answer(filled_store):
    # the model would rather say "zehn Minuten", but that is the talk in Neu-Delhi, in articles that never name Genf
    generator = FakeGenerator(preferred=["zehn Minuten", "rund eineinhalb Stunden"])
    answer = answerer(filled_store, generator).ask("Wie lange dauerte das Krisengespräch von Blinken und Lawrow in Genf?")
    assert not answer.abstained and "eineinhalb Stunden" in answer.answer
    assert {c.doc_id for c in answer.citations} <= GENEVA_ARTICLES


def test_a_question_about_a_place_no_article_names_is_refused(filled_store):
    question = "Wo trafen sich Blinken und Lawrow in Oslo?"
    answer = answerer(filled_store, FakeGenerator(preferred=["Genf"]), min_coverage=0.0).ask(question)
    assert answer.abstained and "mentions Oslo" in answer.reason


def test_the_unit_of_time_asked_for_decides(filled_store):
    generator = FakeGenerator(preferred=["2. März", "Donnerstag"])
    answer = answerer(filled_store, generator).ask("An welchem Wochentag sprachen Blinken und Lawrow in Neu-Delhi?")
    assert answer.answer.startswith("Donnerstag")


def test_the_settings_know_every_answer_feature_and_no_other():
    from rag.answer import Features
    from rag.settings import ANSWER_FEATURES

    assert set(Features.__dataclass_fields__) == ANSWER_FEATURES


def test_a_search_in_a_rare_date_range_still_fills_top_k(tmp_path, fake_embedder):
    """The range is applied inside both searches, not to the best passages afterwards: many articles from other
    years that match the query better must not crowd out the few from the years asked for."""
    from rag.ingest import parse_article
    from rag.store import Store
    from rag.timescope import DateRange, Period

    store = Store(tmp_path / "var", fake_embedder)
    recent = [parse_article(f" date 2024-0{1 + n % 9} Die Fähre nach Helgoland fährt wieder, Fähre Nummer {n}.",
                            f"neu{n}") for n in range(60)]  # fmt: skip
    older = [parse_article(f" date 2016-05 Im Hafen lag eine Fähre, Liegeplatz {n}.", f"alt{n}") for n in range(3)]
    with store.writer():
        store.sync(recent + older)
    found = answerer(store, FakeGenerator()).search("Fähre Helgoland", 3, DateRange(Period(2016), Period(2016)))
    assert sorted(p.chunk.doc_id for p in found) == ["alt0", "alt1", "alt2"]


def test_search_ranks_by_evidence_without_tagging_sentences_for_an_answer(filled_store, monkeypatch):
    """Reading sentences for an answer's shape (the tagger) was half of a search's time, and a search gives none."""
    import rag.answer

    def no_tagging(*args, **kwargs):
        raise AssertionError("search read the sentences for an answer")

    monkeypatch.setattr(rag.answer, "propose", no_tagging)
    found = answerer(filled_store, FakeGenerator()).search("Treffen Blinken Lawrow Genf", 3)
    assert found and found[0].chunk.doc_id in GENEVA_ARTICLES
