import pytest

from rag.text import fold, sentence_spans, term_match, terms


def sentences(text: str) -> list[str]:
    return [text[s.start : s.end] for s in sentence_spans(text)]


def test_sentences_split_on_full_stops_and_line_breaks():
    text = "Blinken traf Lawrow. Sie sprachen lange.\nKrisentreffen auf neutralem Boden\nDas war es."
    assert sentences(text) == [
        "Blinken traf Lawrow.",
        "Sie sprachen lange.",
        "Krisentreffen auf neutralem Boden",
        "Das war es.",
    ]


def test_sentences_keep_ordinals_and_abbreviations_together():
    text = "Lawrow trifft am 2. März 2023 ein. Antony Blinken (l.) und Sergej Lawrow. Gegen 11.00 Uhr begann es."
    assert sentences(text) == [
        "Lawrow trifft am 2. März 2023 ein.",
        "Antony Blinken (l.) und Sergej Lawrow.",
        "Gegen 11.00 Uhr begann es.",
    ]


def test_sentences_run_on_past_initials_and_abbreviations():
    text = (
        "Der Boulevard ist nach dem Millionär M. Theo Kearney benannt. Die Reihen von Jones et al. und Briffa "
        "wurden verglichen. Das kostet 5 Mio. Euro. Sie begann Mitte des 18. Jahrhunderts."
    )
    assert sentences(text) == [
        "Der Boulevard ist nach dem Millionär M. Theo Kearney benannt.",
        "Die Reihen von Jones et al. und Briffa wurden verglichen.",
        "Das kostet 5 Mio. Euro.",
        "Sie begann Mitte des 18. Jahrhunderts.",
    ]


def test_a_number_ends_a_sentence_unless_a_noun_or_adjective_follows_it():
    text = (
        "Die Straße heißt Route 99. Sie führt nach Norden. Er kam am 3. Oktober an und blieb bis zum 5. "
        "Das war kurz."
    )
    assert sentences(text) == [
        "Die Straße heißt Route 99.",
        "Sie führt nach Norden.",
        "Er kam am 3. Oktober an und blieb bis zum 5.",
        "Das war kurz.",
    ]


def test_sentence_ending_in_a_quote():
    text = "Der Minister nannte es „offen und nützlich“. Der Dialog geht weiter."
    assert sentences(text) == ["Der Minister nannte es „offen und nützlich“.", "Der Dialog geht weiter."]


def test_spans_are_exact_slices():
    text = "  Erster Satz.   Zweiter Satz!  \n\n Dritter "
    for span in sentence_spans(text):
        piece = text[span.start : span.end]
        assert piece == piece.strip() and piece


def test_fold_meets_spelling_variants():
    assert fold("Genève") == "geneve"
    assert fold("Außenminister") == fold("Aussenminister")
    assert fold("Gespräch") == "gespraech"


def test_terms_lemmatise_stem_and_drop_function_words():
    assert terms("Wo trafen sich Blinken und Lawrow?") == terms("treffen Blinken Lawrow")
    assert set(terms("Das Gespräch hat zehn Minuten gedauert")) == set(terms("Gespräche dauerten zehn Minuten"))
    assert not {"wo", "und", "sich"} & set(terms("Wo und sich"))
    assert set(terms("G20-Treffen")) >= {"g20treff", "g20", "treff"}


@pytest.mark.parametrize("container", [set, frozenset])
@pytest.mark.parametrize(
    ("term", "present", "expected"),
    [
        ("haft", {"haftstraf", "urteil"}, 0.7),  # a compound that starts with the term
        ("gesprach", {"krisengesprach"}, 0.7),  # ... or ends with it
        ("krisengesprach", {"gesprach"}, 0.7),  # the term is a compound of a present word
        ("krisengesprach", {"krise"}, 0.7),
        ("krisengesprach", {"risen"}, 0.0),  # inside, neither start nor end
        ("haft", {"haft"}, 1.0),
        ("haf", {"hafen"}, 0.0),  # too short to stand in a compound
        ("krisengesprach", {"kris"}, 0.0),  # a part under five letters does not count
        ("treff", set(), 0.0),
    ],
)
def test_term_match_finds_german_compounds_either_way(term, present, expected, container):
    assert term_match(term, container(present)) == expected
