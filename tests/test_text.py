from rag.text import fold, sentence_spans, terms


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
