import pytest

from rag.timescope import Period, fits, question_period, sentence_periods, sentence_time


@pytest.mark.parametrize(
    "question, expected",
    [
        ("Wo trafen sich Blinken und Lawrow 2022?", Period(2022)),
        ("Wo trafen sich Blinken und Lawrow im Dezember 2021?", Period(2021, 12)),
        ("Was geschah im März 2023?", Period(2023, 3)),
        ("Where did they meet in 2023?", Period(2023)),
        ("Wo trafen sich Blinken und Lawrow?", None),
        ("Was änderte sich zwischen 2022 und 2023?", None),
        ("Wie viele der 100.000 Soldaten?", None),
    ],
)
def test_question_period(question, expected):
    assert question_period(question) == expected


def test_relative_times_are_read_against_the_article_date():
    january_2022 = Period(2022, 1)
    assert sentence_periods("Sie sind sich schon im Dezember in Stockholm begegnet.", january_2022) == {
        Period(2021, 12)
    }
    assert sentence_periods("Die Übung soll im Februar stattfinden.", january_2022) == {Period(2022, 2)}
    assert sentence_periods("In Bali im vergangenen Jahr verließ er die Sitzung.", Period(2023, 3)) == {Period(2022)}
    assert sentence_periods("Er wurde im Dezember 2018 festgenommen und 2020 verurteilt.", None) == {
        Period(2018, 12),
        Period(2020),
    }


def test_a_sentence_without_time_words_takes_its_article_date():
    assert sentence_time("Blinken traf Lawrow in Genf.", Period(2022, 1)) == {Period(2022, 1)}
    assert sentence_time("Blinken traf Lawrow in Genf.", None) == set()


def test_fits():
    assert fits(None, set())
    assert fits(Period(2022), {Period(2022, 1)})
    assert fits(Period(2021, 12), {Period(2021, 12)})
    assert not fits(Period(2022), {Period(2021, 12)})
    assert not fits(Period(2024), {Period(2022, 1), Period(2023, 3)})
    assert not fits(Period(2022), set())


def test_period_parse():
    assert Period.parse("2022-01") == Period(2022, 1)
    assert Period.parse("2022") == Period(2022)
    assert Period.parse("2022-13") is None
    assert Period.parse("") is None
