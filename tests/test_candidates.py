from rag.candidates import extract
from rag.retrieve import AnswerKind, read_question


def texts(sentence, kind, question=""):
    return [c.text for c in extract(sentence, kind, question)]


def test_places_prefer_bare_proper_names():
    found = extract(
        "Blinken plant ein Treffen mit Lawrow am Freitag in Genf im Rahmen der Gespräche.", AnswerKind.PLACE
    )
    best = min(c.tier for c in found)
    assert [c.text for c in found if c.tier == best] == ["in Genf"]
    assert "am Freitag" not in [c.text for c in found]


def test_candidates_named_in_the_question_are_dropped():
    sentence = "Am Donnerstag reist Blinken weiter nach Berlin, nachdem er in Kiew war."
    assert texts(sentence, AnswerKind.PLACE, "Wohin reist Blinken nach Kiew weiter?") == ["nach Berlin"]


def test_person_names_lose_their_roles_and_lists_are_joined():
    sentence = (
        "Blinken trifft in Kiew den ukrainischen Präsidenten Wolodymyr Selenskyj und den Aussenminister Dmytro Kuleba."
    )
    found = texts(sentence, AnswerKind.PERSON, "Wen trifft Blinken in Kiew?")
    assert "Wolodymyr Selenskyj" in found and "Dmytro Kuleba" in found
    assert "Wolodymyr Selenskyj und Dmytro Kuleba" in found
    assert not any("Präsident" in f for f in found)


def test_numbers_skip_names_and_years():
    sentence = "Russland verlegte 2022 zwei Bataillone des Systems S-400 und 830 britische Soldaten."
    found = texts(sentence, AnswerKind.NUMBER)
    assert "zwei Bataillone" in found and "830 britische Soldaten" in found
    assert not any(f.startswith(("400", "2022")) for f in found)


def test_durations_and_times():
    assert "rund eineinhalb Stunden" in texts("Sie sprachen nach rund eineinhalb Stunden.", AnswerKind.DURATION)
    assert "weniger als zehn Minuten" in texts("Es habe weniger als zehn Minuten gedauert.", AnswerKind.DURATION)
    found = texts("Er wurde im Dezember 2018 festgenommen und kam am Freitag gegen 11.00 Uhr.", AnswerKind.TIME)
    assert {"im Dezember 2018", "am Freitag", "gegen 11.00 Uhr"} <= set(found)


def test_other_questions_answer_with_the_sentence():
    assert texts("Der Dialog geht weiter.", AnswerKind.OTHER) == ["Der Dialog geht weiter."]


def test_question_kinds():
    assert read_question("Wo trafen sich Blinken und Lawrow 2022?").kind is AnswerKind.PLACE
    assert read_question("Where did Blinken and Lavrov meet?").kind is AnswerKind.PLACE
    assert read_question("Wann wurde Whelan festgenommen?").kind is AnswerKind.TIME
    assert read_question("Wie lange dauerte das Gespräch?").kind is AnswerKind.DURATION
    assert read_question("Wie viele Soldaten sind in Estland?").kind is AnswerKind.NUMBER
    assert read_question("Mit wem sprach Lawrow?").kind is AnswerKind.PERSON
    assert read_question("Was sagte Blinken?").kind is AnswerKind.OTHER


def test_the_clause_that_holds_the_question_words_holds_the_answer():
    from rag.candidates import in_asked_clause, proximity

    sentence = "Er war im Dezember 2018 in Russland festgenommen und 2020 zu einer Haftstrafe verurteilt worden."
    arrest = read_question("Wann wurde er festgenommen?")
    found = {c.text: c for c in extract(sentence, AnswerKind.TIME, arrest.text)}
    assert in_asked_clause(sentence, found["im Dezember 2018"], arrest.terms)
    assert not in_asked_clause(sentence, found["2020"], arrest.terms)
    sentencing = read_question("Wann wurde er verurteilt?")
    assert in_asked_clause(sentence, found["2020"], sentencing.terms)

    troops = (
        "Derzeit sind in Estland 830 britische Soldaten stationiert, weitere 140 im Rahmen einer NATO-Mission in Polen."
    )
    poland = read_question("Wie viele Soldaten sind im Rahmen einer NATO-Mission in Polen?")
    counts = {c.text: c for c in extract(troops, AnswerKind.NUMBER, poland.text)}
    assert proximity(troops, counts["weitere 140"], poland.terms) > proximity(
        troops, counts["830 britische Soldaten"], poland.terms
    )
