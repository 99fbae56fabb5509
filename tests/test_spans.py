from rag.german import tag
from rag.question import AnswerKind, read_question
from rag.spans import asked_beside, asked_in_clause, noun_phrases, propose, proximity


def texts(sentence, kind, question=""):
    return [c.text for c in propose(sentence, kind, question)]


def test_the_tagger_gives_offsets_word_classes_and_lemmas():
    sentence = "Die Gespräche dauerten am 2. März rund eineinhalb Stunden."
    tokens = tag(sentence)
    assert all(sentence[t.start : t.end] == t.text for t in tokens)
    assert [t.tag for t in tokens if t.text in {"Gespräche", "2.", "dauerten"}] == ["NN", "VVFIN", "ADJA"]
    assert next(t.lemma for t in tokens if t.text == "dauerten") == "dauern"


def test_an_ordinal_stays_in_its_phrase():
    sentence = "Die Bewegung begann Mitte des 18. Jahrhunderts in England."
    assert "Mitte des 18. Jahrhunderts" in texts(sentence, AnswerKind.TIME, "Wann begann die Bewegung?")


def test_noun_phrases_take_determiner_modifiers_and_nouns():
    tokens = tag("Die Verteidigung der Panthers gab nur 308 Punkte ab.")
    phrases = [" ".join(t.text for t in tokens[i:j]) for i, j in noun_phrases(tokens)]
    assert "Die Verteidigung" in phrases and "der Panthers" in phrases and "308 Punkte" in phrases


def test_places_are_names_and_the_question_words_are_trimmed():
    sentence = "Blinken plant ein Treffen mit Lawrow am Freitag in Genf."
    found = {c.text: c for c in propose(sentence, AnswerKind.PLACE, "Wo trifft Blinken Lawrow?")}
    assert "Genf" in found and found["Genf"].preposition == "in"
    assert not any("Blinken" in text or "Lawrow" in text for text in found)


def test_a_span_never_cuts_a_name_in_two():
    sentence = "US-Außenminister Antony Blinken traf sich in Neu-Delhi mit Lawrow."
    found = texts(sentence, AnswerKind.PLACE, "Wo traf sich Blinken mit Lawrow?")
    assert "Neu-Delhi" in found
    assert "Antony" not in found and "US-Außenminister Antony" not in found


def test_people_are_name_runs_and_joined_lists():
    sentence = "Blinken trifft in Kiew den ukrainischen Präsidenten Wolodymyr Selenskyj und Außenminister Dmytro Kuleba."
    found = texts(sentence, AnswerKind.PERSON, "Wen trifft Blinken in Kiew?")
    assert "Wolodymyr Selenskyj" in found and "Dmytro Kuleba" in found
    assert "Kiew" not in found


def test_numbers_answer_without_the_words_the_question_says():
    sentence = "Die Verteidigung der Panthers gab nur 308 Punkte ab."
    assert "308" in texts(sentence, AnswerKind.NUMBER, "Wie viele Punkte gab die Verteidigung der Panthers ab?")


def test_durations_times_and_dates():
    assert "zehn Minuten" in texts("Es habe weniger als zehn Minuten gedauert.", AnswerKind.DURATION)
    assert "eineinhalb Stunden" in texts("Das eineinhalbstündige Gespräch endete.", AnswerKind.DURATION)
    found = texts("Er wurde im Dezember 2018 festgenommen und kam am 2. März gegen 11.00 Uhr.", AnswerKind.TIME)
    assert {"Dezember 2018", "2. März"} <= set(found)
    assert any("11.00 Uhr" in text for text in found)


def test_reasons_are_clauses():
    found = texts("Das Spiel wurde verschoben, weil es stark regnete.", AnswerKind.REASON, "Warum wurde es verschoben?")
    assert "weil es stark regnete" in found


def test_odd_spacing_inside_a_name_does_not_break_proposals():
    sentence = "Premierminister war damals\nRobert   Gascoyne-Cecil, der die Regierung führte."
    found = texts(sentence, AnswerKind.PERSON, "Wer war Premierminister?")
    assert any("Gascoyne-Cecil" in text for text in found)
    assert all("\n" not in text and "  " not in text for text in found)


def test_the_clause_that_holds_the_question_words_holds_the_answer():
    sentence = "Er war im Dezember 2018 in Russland festgenommen und 2020 zu einer Haftstrafe verurteilt worden."
    arrest = read_question("Wann wurde er festgenommen?")
    found = {c.text: c for c in propose(sentence, AnswerKind.TIME, arrest.text)}
    assert asked_in_clause(sentence, found["Dezember 2018"], arrest.terms) > 0
    assert asked_in_clause(sentence, found["2020"], arrest.terms) == 0
    sentencing = read_question("Wann wurde er verurteilt?")
    assert asked_in_clause(sentence, found["2020"], sentencing.terms) > 0

    troops = "Derzeit sind in Estland 830 britische Soldaten stationiert, weitere 140 im Rahmen einer NATO-Mission in Polen."
    poland = read_question("Wie viele Soldaten sind im Rahmen einer NATO-Mission in Polen?")
    counts = {c.text: c for c in propose(troops, AnswerKind.NUMBER, poland.text)}
    assert asked_in_clause(troops, counts["140"], poland.terms) > asked_in_clause(troops, counts["830"], poland.terms)
    estonia = read_question("Wie viele britische Soldaten sind in Estland stationiert?")
    assert proximity(troops, counts["830"], estonia.terms) > proximity(troops, counts["140"], estonia.terms)


def test_a_time_of_day_keeps_its_uhr_and_a_name_its_adjective():
    found = texts("Sie hatten sich gegen 11.00 Uhr begrüßt.", AnswerKind.TIME, "Um wie viel Uhr begrüßten sie sich?")
    assert "11.00 Uhr" in found
    assert "Neu Delhi" in texts("Sie trafen sich in Neu Delhi.", AnswerKind.PLACE, "Wo trafen sie sich?")


def test_a_question_word_right_beside_a_candidate_is_seen_on_its_side():
    sentence = "Der Verein wird vom Trainer Jürgen Klopp geführt, Präsident ist Hans Meier."
    question = read_question("Wer ist der Trainer des Vereins?")
    found = {c.text: c for c in propose(sentence, AnswerKind.PERSON, question.text)}
    assert asked_beside(sentence, found["Jürgen Klopp"], question.terms) == (1.0, 0.0)
    assert asked_beside(sentence, found["Hans Meier"], question.terms) == (0.0, 0.0)


def test_quotations_answer_what_was_said_or_named():
    sentence = "Der Minister bezeichnete das Treffen als „offen und nützlich“, berichtete die Zeitung „Times“."
    said = texts(sentence, AnswerKind.OTHER, "Wie bezeichnete der Minister das Treffen?")
    named = texts(sentence, AnswerKind.THING, "Welche Zeitung berichtete darüber?")
    assert "offen und nützlich" in said
    assert "Times" in named  # the tagger's FM quotation marks do not make "Times" a part of a longer name


def test_a_place_keeps_the_place_attached_to_it():
    sentence = "Die beiden trafen sich gegen 11.00 Uhr in einem Hotel am Genfersee."
    assert "Hotel am Genfersee" in texts(sentence, AnswerKind.PLACE, "Wo trafen sich die beiden?")


def test_a_candidate_knows_the_preposition_its_phrase_hangs_on():
    sentence = "Der Streik führte zu einer langen Pause, die sich gegen jeden Plan zur Einigung richtete."
    found = {c.text: c.governed_by for c in propose(sentence, AnswerKind.THING, "Wozu führte es?")}
    assert found["langen Pause"] == "zu"  # past the article and the adjective
    assert found["Plan"] == "gegen"
    assert found["Einigung"] == "zu"  # "zur" is "zu der"
    assert found["Streik"] == ""  # the subject hangs on no preposition


def test_a_compound_that_ends_in_the_asked_word_is_an_answer_not_a_repeat():
    found = texts("Die Grafik wurde als Hockeyschläger-Diagramm bekannt.", AnswerKind.THING, "Wie hieß das Diagramm?")
    assert "Hockeyschläger-Diagramm" in found
    assert "Diagramm" not in texts("Das Diagramm wurde bekannt.", AnswerKind.THING, "Wie hieß das Diagramm?")


def test_an_initial_is_part_of_the_name():
    sentence = "Die Halle wurde nach Johann F. Meyer benannt."
    assert texts(sentence, AnswerKind.PERSON, "Nach wem wurde die Halle benannt?") == ["Johann F. Meyer"]


def test_a_noun_right_after_a_noun_starts_the_next_phrase_unless_it_is_an_acronym():
    sentence = "Der Minister sah nach dem Treffen Chancen für eine Einigung."
    found = texts(sentence, AnswerKind.THING, "Was sah der Minister?")
    assert "Chancen" in found and "Treffen Chancen" not in found
    found = texts("Die Reederei Nordfrakt AG baute das Schiff.", AnswerKind.THING, "Wer baute das Schiff?")
    assert "Nordfrakt AG" in found


def test_a_year_answers_without_the_word_jahr():
    question = "Wann wurde die Kirche geweiht?"
    assert texts("Die Kirche wurde im Jahr 1612 geweiht.", AnswerKind.TIME, question) == ["1612"]


def test_a_year_is_no_quantity():
    found = texts("Im Jahr 2023 lebten dort 1500 Soldaten.", AnswerKind.NUMBER, "Wie viele Soldaten lebten dort?")
    assert found == ["1500"]


def test_a_name_answers_without_the_title_before_it():
    sentence = "Er sprach in der Stadt Lindau mit seiner österreichischen Amtskollegin Karin Huber."
    assert "Karin Huber" in texts(sentence, AnswerKind.PERSON, "Mit wem sprach er?")
    assert not [t for t in texts(sentence, AnswerKind.PERSON, "Mit wem sprach er?") if "Amtskollegin" in t]
    assert "Lindau" in texts(sentence, AnswerKind.PLACE, "Wo sprach er?")


def test_a_name_after_its_title_keeps_a_last_name_tagged_as_a_noun():
    sentence = "In Berlin sprach der Minister mit seinem neuen chinesischen Kollegen Qin Gang."  # Gang/NN
    found = texts(sentence, AnswerKind.PERSON, "Wer ist der chinesische Kollege des Ministers?")
    assert "Qin Gang" in found
    assert not [t for t in found if "Kollegen" in t]
    # after a name of two words, a noun is the next phrase, not a last name
    found = texts("Am Abend traf Kanzlerin Angela Merkel Vertreter der Länder.", AnswerKind.PERSON, "Wer traf sie?")
    assert "Angela Merkel" in found and "Angela Merkel Vertreter" not in found


def test_an_adjective_whose_noun_the_question_says_is_dropped_after_a_number():
    question = "Für wie viele Teams spielte er?"
    assert texts("Er spielte für zwei verschiedene Teams.", AnswerKind.NUMBER, question) == ["zwei"]


def test_a_phrase_of_more_than_eight_words_is_no_answer_but_a_reason_or_a_title_may_be():
    sentence = "Er leitet die Global Markets Division and Investment Banking Group der Bank, weil er es kann."
    found = texts(sentence, AnswerKind.THING, "Was leitet er?")
    assert found and all(len(t.split()) <= 8 for t in found)
    assert "weil er es kann" in texts(sentence, AnswerKind.REASON, "Warum leitet er sie?")
    title = "Die Bank der vielen kleinen Leute am großen und breiten Fluss"
    found = texts(f"Das Buch heißt „{title}“.", AnswerKind.THING, "Wie heißt das Buch?")
    assert title.removeprefix("Die ") in found


def test_an_adjective_without_a_number_may_be_the_answer():
    question = "Welche Art von Heizelement wird verwendet?"
    assert "elektrisches" in texts("Meist wird ein elektrisches Heizelement verwendet.", AnswerKind.THING, question)


def test_an_enumeration_of_three_or_more_is_one_candidate_and_its_items_are_others():
    found = texts("Er kaufte Äpfel, Birnen, Pflaumen sowie Kirschen.", AnswerKind.THING, "Was kaufte er?")
    assert "Äpfel, Birnen, Pflaumen sowie Kirschen" in found
    assert {"Äpfel", "Kirschen"} <= set(found)
    assert "Birnen, Pflaumen sowie Kirschen" not in found  # a tail of the enumeration is none of its own
    # commas without a closing "und" are no enumeration: a clause follows
    found = texts("Er kaufte Äpfel, Birnen kaufte sie im Supermarkt.", AnswerKind.THING, "Was kaufte er?")
    assert not [t for t in found if "," in t]
    # ", und" closes an apposition, not an enumeration
    sentence = "Sergej Lawrow, Russlands Außenminister, und Antony Blinken trafen sich in Genf."
    assert not [t for t in texts(sentence, AnswerKind.PERSON, "Wer traf sich?") if "," in t]


def test_a_name_word_the_question_says_before_a_name_is_another_name_but_one_after_it_is_not():
    sentence = "Zu den Gästen zählten der reichste Mann in Kanada Larry Ellison sowie Angela Merkel."
    assert "Larry Ellison" in texts(sentence, AnswerKind.PERSON, "Wer ist der reichste Mann in Kanada?")
    assert "Angela" not in texts(sentence, AnswerKind.PERSON, "Wen traf Merkel?")
    # a single word left of a two-word name stays part of it
    assert "Dortmund" not in texts("Borussia Dortmund trainiert Edin Terzić.", AnswerKind.PERSON, "Wer trainiert Borussia?")


def test_a_place_after_two_determiners_hangs_on_its_preposition():
    sentence = "In den meisten westlichen Ländern ist das verboten, nicht aber in Kanada."
    found = propose(sentence, AnswerKind.PLACE, "Wo ist das verboten?")
    assert {c.text: c.preposition for c in found}.get("westlichen Ländern") == "in"


def test_a_lone_letter_is_no_answer_but_a_digit_and_a_letter_in_a_phrase_are():
    abbreviations = texts("Forscher fanden bei Y. pestis zwei Stämme, z. B. orientalis.", AnswerKind.THING)
    assert "Y" not in abbreviations and "z" not in abbreviations and "zwei Stämme" in abbreviations
    assert "M" not in texts("Die Zeit, die eine Maschine M braucht, heißt Laufzeit.", AnswerKind.THING)
    assert "Punkt B" in texts("Die Sonde erreichte Punkt B nach drei Tagen.", AnswerKind.THING)
    assert "5" in texts("Der Motor hat 5 Zylinder.", AnswerKind.NUMBER)
