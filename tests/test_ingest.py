import pytest

from rag.errors import IngestError
from rag.ingest import Removed, chunk_article, parse_article, read_article, strip_boilerplate
from rag.timescope import Period
from tests.conftest import ARTICLES


def test_date_header_is_metadata_not_text():
    article = parse_article(" date 2022-01 Blinken trifft Lawrow in Genf.", "x")
    assert article.date == Period(2022, 1)
    assert article.text == "Blinken trifft Lawrow in Genf."


def test_missing_header_means_unknown_date():
    article = parse_article("Krisentreffen in Genf\nBlinken spricht.", "x")
    assert article.date is None
    assert article.text.startswith("Krisentreffen in Genf")


@pytest.mark.parametrize("raw", ["", "   \n  ", "Fehler gefunden?Jetzt melden."])
def test_empty_articles_are_refused(raw):
    with pytest.raises(IngestError):
        parse_article(raw, "x")


def test_unreadable_date_is_refused():
    with pytest.raises(IngestError, match="date"):
        parse_article(" date Januar Blinken.", "x")


def test_boilerplate_is_removed_and_recorded():
    raw = (
        "Blinken traf Lawrow. Foto: Keystone (2. Dezember 2021)\n"
        "Lese-Tipp: Habeck will die Ukraine befrieden\n"
        "Jetzt eines von fünf Jahresabos gewinnen TT-ePaper 4 Wochen gratis ausprobieren Ich bin bereits Abonnent\n"
        "Das Gespräch dauerte zehn Minuten.\n"
        "Politik & Wirtschaftsnews finden Sie hier in der Videoplaylist\n"
        "01:06Donald Trump (79) fallen bei Sitzung die Augen zu\n"
        "02:49Schweinisches Codewort im Bundestag\n"
        "SDA/fal\n"
        "Fehler gefunden?Jetzt melden."
    )
    text, removed = strip_boilerplate(raw)
    assert text == "Blinken traf Lawrow.\nDas Gespräch dauerte zehn Minuten."
    kinds = {r.kind for r in removed}
    assert kinds == {"photo credit", "reading tip", "promotion", "video playlist", "agency byline", "error report"}
    assert any("Donald Trump" in r.text for r in removed)


def test_a_playlist_marker_goes_and_the_sentences_after_it_on_its_line_stay():
    raw = (
        "Blinken traf Lawrow in Genf.\n"
        "01:30Publikum tobt! Der Saal war ausverkauft. Die Kritiker lobten den Auftritt.\n"
        "Das Gespräch dauerte zehn Minuten."
    )
    text, removed = strip_boilerplate(raw)
    assert text == (
        "Blinken traf Lawrow in Genf.\n"
        "Der Saal war ausverkauft. Die Kritiker lobten den Auftritt.\n"
        "Das Gespräch dauerte zehn Minuten."
    )
    assert removed == [Removed("video playlist", "01:30Publikum tobt!")]
    # and the kept sentences are searchable: they are in the chunks
    chunks = chunk_article(parse_article(raw, "x"))
    assert any("Die Kritiker lobten den Auftritt." in chunk.text for chunk in chunks)


@pytest.mark.parametrize(
    ("raw", "text", "removed"),
    [
        pytest.param(
            "Politik & Wirtschaftsnews finden Sie hier in der Videoplaylist\n"
            "01:06Trump schläft im Kabinett ein\n"
            "01:30Publikum tobt! Der Saal war ausverkauft. Die Kritiker lobten den Auftritt.\n"
            "02:10Eklat im Rathaus",
            "Der Saal war ausverkauft. Die Kritiker lobten den Auftritt.",
            [
                Removed(
                    "video playlist",
                    "Politik & Wirtschaftsnews finden Sie hier in der Videoplaylist\n"
                    "01:06Trump schläft im Kabinett ein\n01:30Publikum tobt!",
                ),
                Removed("video playlist", "02:10Eklat im Rathaus"),
            ],
            id="playlist block ends at the entry that sentences follow",
        ),
        pytest.param(
            "Das Gespräch dauerte zehn Minuten. Mehr Videos finden Sie hier in der Videoplaylist\n"
            "01:06Trump schläft im Kabinett ein\n"
            "Blinken reiste ab.",
            "Das Gespräch dauerte zehn Minuten.\nBlinken reiste ab.",
            [
                Removed("video playlist", "Mehr Videos finden Sie hier in der Videoplaylist"),
                Removed("video playlist", "01:06Trump schläft im Kabinett ein"),
            ],
            id="playlist header after a sentence",
        ),
        pytest.param(
            "Im Video: Was will Putin? Die Chefdiplomaten trafen sich am Genfersee. Sie sprachen lange.",
            "Die Chefdiplomaten trafen sich am Genfersee. Sie sprachen lange.",
            [Removed("video teaser", "Im Video: Was will Putin?")],
            id="video teaser",
        ),
        pytest.param(
            "Lese-Tipp: Habeck will die Ukraine befrieden! Das Gespräch sei offen gewesen. Beide Seiten lernten dazu.",
            "Das Gespräch sei offen gewesen. Beide Seiten lernten dazu.",
            [Removed("reading tip", "Lese-Tipp: Habeck will die Ukraine befrieden!")],
            id="reading tip",
        ),
        pytest.param(
            "Blinken traf Lawrow. Jetzt abonnieren und 4 Wochen gratis ausprobieren! Das Gespräch dauerte lange.",
            "Blinken traf Lawrow. Das Gespräch dauerte lange.",
            [Removed("promotion", "Jetzt abonnieren und 4 Wochen gratis ausprobieren!")],
            id="promotion between sentences",
        ),
        pytest.param(
            "Blinken traf Lawrow. Jetzt eines von drei Jahresabos gewinnen Ich bin bereits Abonnent\n"
            "Das Gespräch dauerte zehn Minuten.",
            "Blinken traf Lawrow.\nDas Gespräch dauerte zehn Minuten.",
            [Removed("promotion", "Jetzt eines von drei Jahresabos gewinnen Ich bin bereits Abonnent")],
            id="promotion after a sentence",
        ),
        pytest.param(
            "Blinken traf Lawrow. Foto: Keystone (2. Dezember 2021) Das Gespräch dauerte lange. Beide lächelten.",
            "Blinken traf Lawrow. Das Gespräch dauerte lange. Beide lächelten.",
            [Removed("photo credit", "Foto: Keystone (2. Dezember 2021)")],
            id="photo credit",
        ),
    ],
)
def test_boilerplate_takes_only_the_furniture_not_the_sentences_beside_it(raw, text, removed):
    assert strip_boilerplate(raw) == (text, removed)


@pytest.mark.parametrize(
    "raw",
    [
        "Die Sender starten eine neue Videoplaylist. Sie läuft ab Montag.",
        "Der Verlag verkaufte mehr Jahresabos als je zuvor. Das freut ihn.",
        "2:10-Sieg gegen Bayern. Der Trainer war zufrieden.",
    ],
)
def test_sentences_that_only_name_the_furniture_stay(raw):
    assert strip_boilerplate(raw) == (raw, [])


def test_a_two_part_playlist_title_goes_whole():
    # a headline's second part ends in "!" or nothing, never in a full stop: it is title, not a sentence to keep
    title = "02:10Eklat im Rathaus! Bürgermeister verlässt den Saal – mitten in der Rede!"
    raw = f"Die Sitzung begann pünktlich.\n{title}"
    assert strip_boilerplate(raw) == ("Die Sitzung begann pünktlich.", [Removed("video playlist", title)])


def test_real_articles_lose_their_boilerplate_but_keep_the_story():
    article = read_article(ARTICLES / "004_26328b77b207f0a4.txt")
    assert "Videoplaylist" not in article.text and "Lese-Tipp" not in article.text and "01:06" not in article.text
    assert "Genfersee" in article.text
    assert article.date is None


def test_chunks_carry_exact_offsets_and_whole_sentences():
    article = read_article(ARTICLES / "003_6f9f40feec1ab3b1.txt")
    chunks = chunk_article(article, max_chars=500, overlap_sentences=1)
    assert len(chunks) > 3
    for chunk in chunks:
        assert article.text[chunk.start : chunk.end] == chunk.text
        assert chunk.sentences[0].start == chunk.start and chunk.sentences[-1].end == chunk.end
    # neighbouring chunks share one sentence
    assert chunks[1].sentences[0] == chunks[0].sentences[-1]
    covered = {s for c in chunks for s in c.sentences}
    assert len(covered) == len({(s.start, s.end) for c in chunks for s in c.sentences})


def test_chunk_ids_are_content_hashes():
    article = read_article(ARTICLES / "002_606d4c18b25b7e8e.txt")
    first = [c.id for c in chunk_article(article)]
    assert first == [c.id for c in chunk_article(read_article(ARTICLES / "002_606d4c18b25b7e8e.txt"))]
    changed = parse_article(" date 2022-01 " + article.text.replace("Genf", "Lausanne"), article.doc_id)
    assert first != [c.id for c in chunk_article(changed)]


def test_chunks_are_filed_under_the_periods_they_mention():
    article = read_article(ARTICLES / "002_606d4c18b25b7e8e.txt")
    keys = set().union(*(c.time_keys for c in chunk_article(article)))
    assert {"t_2022", "t_2022_01", "t_2021_12"} <= keys  # "schon im Dezember in Stockholm"
