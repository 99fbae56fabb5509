import pathlib
import re

import pytest

from rag.question import AnswerKind, load_aliases, read_question

ROOT = pathlib.Path(__file__).resolve().parent.parent


@pytest.mark.parametrize(
    ("question", "kind"),
    [
        ("Wo trafen sich Blinken und Lawrow 2022?", AnswerKind.PLACE),
        ("Where did Blinken and Lavrov meet?", AnswerKind.PLACE),
        ("In welcher Stadt fand das Treffen statt?", AnswerKind.PLACE),
        ("Wann wurde Whelan festgenommen?", AnswerKind.TIME),
        ("In welchem Jahr wurde die Universität gegründet?", AnswerKind.TIME),
        ("Wie lange dauerte das Gespräch?", AnswerKind.DURATION),
        ("Wie viele Soldaten sind in Estland?", AnswerKind.NUMBER),
        ("Zu wie vielen Jahren Haft wurde er verurteilt?", AnswerKind.DURATION),  # dative plural
        ("Nach wie vielen Tagen endete der Streik?", AnswerKind.DURATION),
        ("Wie viele Tagesordnungspunkte gab es?", AnswerKind.NUMBER),
        ("Wie hoch ist der Turm?", AnswerKind.NUMBER),
        ("Mit wem sprach Lawrow?", AnswerKind.PERSON),
        ("Warum wurde das Spiel verschoben?", AnswerKind.REASON),
        ("Welche Zeitung berichtete darüber?", AnswerKind.THING),
        ("Wie heißt die Expertin?", AnswerKind.THING),
        ("Was sagte Blinken?", AnswerKind.THING),
        ("Wie reagierte die Regierung?", AnswerKind.OTHER),
    ],
)
def test_the_wh_phrase_decides_the_kind(question, kind):
    assert read_question(question).kind is kind


def test_focus_time_scope_places_and_terms():
    question = read_question("Welche Zeitung berichtete 2022 in London über die Soldaten?")
    assert question.focus == "Zeitung"
    assert str(question.period) == "2022"
    assert question.places == ("London",)
    assert "soldat" in question.terms and "2022" not in question.terms


def test_a_year_named_in_an_event_question_is_read_as_its_scope():
    assert str(read_question("Wann wurde die Universität 1990 gegründet?").period) == "1990"


def test_aliases_rewrite_question_words(tmp_path):
    path = tmp_path / "aliases.tsv"
    path.write_text("# comment\nmeeting\tTreffen\n\nbad line without tab\n", encoding="utf-8")
    aliases = load_aliases(path)
    assert aliases == {"meeting": "Treffen"}
    assert "treff" in read_question("When was the meeting?", aliases).terms
    assert load_aliases(None) == {}


def test_the_library_names_no_article_people_or_places():
    """The reader is for any German article: names from the seed articles belong in data files, not in rag/."""
    seed_names = re.compile(r"lawrow|lavrov|blinken|genf|kiew|peskow|selenskyj", re.IGNORECASE)
    offenders = [p.name for p in (ROOT / "rag").rglob("*.py") if seed_names.search(p.read_text(encoding="utf-8"))]
    assert offenders == []


def test_aliases_apply_to_the_places_a_question_names(tmp_path):
    path = tmp_path / "aliases.tsv"
    path.write_text("estonia\tEstland\n", encoding="utf-8")
    assert read_question("How many soldiers are in Estonia?", load_aliases(path)).places == ("Estland",)


@pytest.mark.parametrize(
    "text, focus",
    [
        ("Welche Stadt liegt am Fluss?", "Stadt"),
        ("Welche Art von Heizelement wird verwendet?", "Heizelement"),
        ("Wie heißt der Ehemann der Ministerin?", "Ehemann"),
        ("Wie hieß das Stadion?", "Stadion"),
        ("Wie lautet der Name des Vereins?", "Vereins"),
        ("Was für eine Stadt ist das?", "Stadt"),
    ],
)
def test_the_focus_is_the_noun_the_answer_is_an_instance_of(text, focus):
    question = read_question(text)
    assert question.focus == focus
    assert question.kind is AnswerKind.THING


@pytest.mark.parametrize(
    "text, preposition",
    [
        ("Wozu führt der Streik?", "zu"),
        ("Worüber sprachen die Minister?", "über"),
        ("Wovon hängt der Preis ab?", "von"),
        ("Mit wem sprach die Ministerin?", "mit"),
        ("Mit wie vielen Stimmen wurde sie gewählt?", "mit"),
        ("Gegen welches Gesetz protestierten sie?", "gegen"),
        ("Seit wann gilt die Regel?", "seit"),
        ("Die Kirche stellt sich gegen was?", "gegen"),
        ("Wo trafen sie sich?", None),
        ("Woher kam der Gast?", None),
        ("Wer gewann die Wahl?", None),
    ],
)
def test_the_preposition_the_question_asks_with(text, preposition):
    assert read_question(text).preposition == preposition


def test_an_adverb_before_a_question_word_is_no_preposition():
    assert read_question("Und wie viele Stimmen bekam sie auch wie erwartet?").preposition is None
