"""The XQuAD suite's SQuAD metrics and split, and the gold set's dev/test split. No model: fast."""

import pytest

from eval.run import HERE, load_gold, load_split, select_split, split_gold
from eval.squad import (
    contains_answer,
    exact_match_score,
    f1_score,
    group_metrics,
    judge_row,
    normalize_answer,
    question_word,
    score_answer,
)
from eval.xquad import role_of, select_questions, slug, spread

# -- normalisation and scores ------------------------------------------------------------------------------


def test_normalisation_removes_markers_punctuation_and_articles():
    assert normalize_answer("In Genf [1][2].") == "in genf"
    assert normalize_answer("Die Europäische Union [3]") == "europäische union"
    assert normalize_answer("der Vertrag des Kaisers, einer Frau und dem Volk!") == "vertrag kaisers frau und volk"
    assert normalize_answer("„Denver Broncos“") == "denver broncos"
    assert normalize_answer("1.000 $") == "1000"
    assert normalize_answer("In welchem \u200b\u200bJahr?") == "in welchem jahr"
    # articles go as whole words only
    assert normalize_answer("Dieser Derby") == "dieser derby"


def test_exact_match_and_f1_known_values():
    assert exact_match_score("Die Denver Broncos [1].", "Denver Broncos") == 1.0
    assert exact_match_score("In Genf", "Genf") == 0.0
    # prediction "in genf" vs gold "genf": 1 common, precision 1/2, recall 1 -> F1 2/3
    assert f1_score("In Genf [1].", "Genf") == pytest.approx(2 / 3)
    assert f1_score("Carolina Panthers 24:10", "24 10") == 0.0  # punctuation is deleted: "2410" is one token
    # "carolina panthers 24 10" vs "24 10": precision 2/4, recall 1 -> 2/3
    assert f1_score("Carolina Panthers 24 10", "24 10") == pytest.approx(2 / 3)
    # "santa clara kalifornien" vs "levis stadium santa clara": 2 common, p 2/3, r 2/4 -> 4/7
    assert f1_score("Santa Clara, Kalifornien", "Levi's Stadium, Santa Clara") == pytest.approx(4 / 7)
    assert f1_score("Stockholm", "Genf") == 0.0


def test_score_takes_the_best_gold_and_an_abstention_scores_zero():
    golds = ["Denver Broncos", "die Broncos"]
    assert score_answer("Broncos [1].", False, golds) == (1.0, 1.0)
    assert score_answer("Denver Broncos", True, golds) == (0.0, 0.0)
    assert score_answer("Dazu finde ich in den Artikeln keine Antwort.", True, golds) == (0.0, 0.0)


def test_contained_answer_is_word_bounded():
    assert contains_answer("Im Jahr 1517 schlug er die Thesen an [1].", "1517")
    assert not contains_answer("Im Jahr 15170", "1517")
    assert contains_answer("gegen die Denver Broncos.", "Die Denver Broncos")


def test_judge_row_citations():
    citations = [{"doc_id": "xq00_super_bowl_50", "quote": "Die Denver Broncos besiegten die Carolina Panthers."}]
    row = judge_row("Denver Broncos [1]", False, ["Denver Broncos"], citations, "xq00_super_bowl_50")
    assert row == {"f1": 1.0, "em": 1.0, "gold_contained": True, "cited_right_article": True,
                   "quote_contains_answer": True}  # fmt: skip
    wrong = judge_row("Carolina [1]", False, ["Denver Broncos"], citations, "xq01_other")
    assert not wrong["cited_right_article"] and wrong["quote_contains_answer"] and not wrong["gold_contained"]
    abstained = judge_row("Dazu finde ich keine Antwort.", True, ["Denver Broncos"], [], "xq00_super_bowl_50")
    assert abstained == {"f1": 0.0, "em": 0.0, "gold_contained": False, "cited_right_article": False,
                         "quote_contains_answer": False}  # fmt: skip


def test_group_metrics_of_answered_and_left_out():
    base = {"answerable": True, "latency_ms": 100.0, "question_word": "wer"}
    rows = [
        base | {"answer": "Denver Broncos [1]", "abstained": False, "f1": 1.0, "em": 1.0, "gold_contained": True,
                "cited_right_article": True, "quote_contains_answer": True},
        base | {"answer": "Dazu nichts.", "abstained": True, "f1": 0.0, "em": 0.0, "gold_contained": False,
                "cited_right_article": False, "quote_contains_answer": False},
    ]  # fmt: skip
    metrics = group_metrics(rows)
    assert metrics["f1"] == 0.5 and metrics["answered"] == 0.5
    assert metrics["cited_right_article"] == 0.5 and metrics["cited_right_article_of_answered"] == 1.0
    assert metrics["answer_words"] == 2.0  # answered answers only, markers not counted
    left_out = group_metrics([{"answerable": False, "latency_ms": 5.0, "answer": "x", "abstained": True}])
    assert left_out["abstained"] == 1.0 and "f1" not in left_out


@pytest.mark.parametrize(
    ("question", "word"),
    [
        ("Wer gewann den Super Bowl 50?", "wer"),
        ("Von wem wurde die Halbzeitshow geleitet?", "wer"),
        ("Für wen spielte John Elway im Super Bowl XXXIII?", "wer"),
        ("Wann wurde Montreal eingenommen?", "wann"),
        ("?Wann wurde Montreal eingenommen?", "wann"),
        ("Wo fand der Super Bowl 50 statt?", "wo"),
        ("Wie viele Zuschauer sahen das Spiel?", "wie viele"),
        ("Mit wie vielen Interceptions erzielte Josh Norman Touchdowns?", "wie viele"),
        ("Wie viel kostete ein Werbespot?", "wie viele"),
        ("Wie hieß der Trainer der Broncos?", "wie"),
        ("Wie lange dauerte die Pest?", "wie"),
        ("In welchem Jahr wurde der Act verabschiedet?", "welche"),
        ("Welcher Spieler wurde zum MVP gewählt?", "welche"),
        ("Welches Team gewann?", "welche"),
        ("Welchen Titel trug er?", "welche"),
        ("Was ist die Komplexitätstheorie?", "was"),
        ("Wofür ist Fresno bekannt?", "was"),
        ("Der Westen sah den Osten als was?", "was"),
        ("Warum wurde die Ölkrise ausgelöst?", "warum"),
        ("Nennen Sie ein Luxussegment von Toyota.", "other"),
    ],
)
def test_question_word_groups(question, word):
    assert question_word(question) == word


# -- the XQuAD split ---------------------------------------------------------------------------------------


def test_xquad_roles_leave_out_every_fourth_article_and_alternate_the_rest():
    roles = [role_of(i) for i in range(24)]
    assert [i for i, r in enumerate(roles) if r == "left_out"] == [3, 7, 11, 15, 19, 23]
    assert roles[:7] == ["tune", "report", "tune", "left_out", "report", "tune", "report"]
    assert roles.count("tune") == roles.count("report") == 9


def test_xquad_ids_slugs_and_subsets():
    assert slug("Intergovernmental_Panel_on_Climate_Change") == "intergovernmental_panel"
    assert slug("Fresno,_California") == "fresno_california"
    assert slug("Genève Straße") == "geneve_strae"
    assert spread(list(range(10)), 3) == [0, 3, 6]
    assert spread(list(range(3)), 5) == [0, 1, 2]
    articles = [
        {"index": i, "title": f"T{i}", "doc_id": f"xq{i:02d}", "role": role_of(i),
         "questions": [{"id": f"{i}-{n}", "question": "Wer?", "answers": ["x"]} for n in range(4)]}
        for i in range(8)
    ]  # fmt: skip
    chosen = select_questions(articles, 3)
    assert [q["role"] for q in chosen] == ["tune"] * 3 + ["report"] * 3 + ["left_out"] * 3
    assert select_questions(articles, 3) == chosen  # deterministic


# -- the gold set's dev/test split -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def gold():
    return load_gold(HERE / "gold.jsonl")


def test_gold_split_is_disjoint_complete_and_made_by_the_rule(gold):
    halves = load_split(HERE / "gold_split.toml")
    ids = {i["id"] for i in gold}
    assert not halves["dev"] & halves["test"]
    assert halves["dev"] | halves["test"] == ids
    assert {name: set(v) for name, v in split_gold(gold).items()} == halves
    assert abs(len(halves["dev"]) - len(halves["test"])) <= 6


def test_gold_split_keeps_pairs_together_and_divides_every_type(gold):
    halves = load_split(HERE / "gold_split.toml")
    side = {i: name for name, members in halves.items() for i in members}
    pairs: dict[str, set[str]] = {}
    for item in gold:
        if item.get("pair_id"):
            pairs.setdefault(item["pair_id"], set()).add(side[item["id"]])
    assert pairs and all(len(sides) == 1 for sides in pairs.values())
    for kind in {i["type"] for i in gold if not i.get("pair_id")}:
        singles = [i for i in gold if i["type"] == kind and not i.get("pair_id")]
        dev = sum(side[i["id"]] == "dev" for i in singles)
        assert abs(dev - (len(singles) - dev)) <= 1, kind
    assert {i["answerable"] for i in gold if side[i["id"]] == "test"} == {True, False}


def test_selecting_a_split(gold, tmp_path):
    path = HERE / "gold_split.toml"
    assert len(select_split(gold, "all", path)) == len(gold)
    test = select_split(gold, "test", path)
    assert {i["id"] for i in test} == load_split(path)["test"]
    partial = tmp_path / "split.toml"
    partial.write_text('dev = ["q001"]\ntest = ["q002"]\n')
    with pytest.raises(SystemExit, match="assigns no split"):
        select_split(gold, "test", partial)
