import bm25s
import numpy as np
import pytest

from rag.ingest import chunk_article, parse_article, read_article
from rag.lexical import LexicalIndex, stamp_of
from rag.text import terms
from tests.conftest import ARTICLES

QUERIES = [["genf"], ["blink", "lawrow", "treff"], ["ukrain", "krieg", "2022"], ["stockholm", "osz"]]


def seed_chunks():
    return [c for path in sorted(ARTICLES.glob("*.txt")) for c in chunk_article(read_article(path))]


def ranking(index: LexicalIndex, query: list[str], time_key: str | None = None) -> list[str]:
    return index.search(query, 1000, time_key)


def test_scores_are_bm25s_lucene_scores():
    chunks = seed_chunks()
    reference = bm25s.BM25()
    reference.index([terms(c.text) or ["\x00"] for c in chunks], show_progress=False)
    index = LexicalIndex.build(chunks)
    for query in QUERIES:
        scores = reference.get_scores(query)
        assert scores.max() > 0, query
        expected = [chunks[i].id for i in np.argsort(-scores, kind="stable") if scores[i] > 0]
        assert ranking(index, query) == expected, query


def test_an_updated_index_ranks_as_one_built_from_scratch():
    chunks = seed_chunks()
    doc_ids = sorted({c.doc_id for c in chunks})
    gone, rewritten = doc_ids[0], doc_ids[1]
    new_text = parse_article(" date 2024-05\nEin Treffen in Genf über die Ukraine, mit Lawrow.", rewritten)
    new_chunks = chunk_article(new_text)
    kept = [c for c in chunks if c.doc_id not in (gone, rewritten)]

    updated = LexicalIndex.build(chunks).changed(new_chunks, [gone, rewritten])
    rebuilt = LexicalIndex.build(kept + new_chunks)
    assert updated.stamp == rebuilt.stamp == stamp_of(c.id for c in kept + new_chunks)
    assert sorted(updated.chunks, key=lambda c: c.id) == sorted(rebuilt.chunks, key=lambda c: c.id)
    for query in QUERIES:
        assert sorted(ranking(updated, query)) == sorted(ranking(rebuilt, query)), query
        assert ranking(updated, query)[:3] == ranking(rebuilt, query)[:3], query
        assert updated.idf(query[0]) == pytest.approx(rebuilt.idf(query[0]))
    assert updated.compacted().stamp == updated.stamp
    assert not updated.terms_of_article(gone) and "genf" in updated.terms_of_article(rewritten)


def test_an_older_snapshot_is_unchanged_by_a_later_write():
    chunks = seed_chunks()
    before = LexicalIndex.build(chunks)
    expected = ranking(before, ["genf"])
    after = before.changed(chunk_article(parse_article("Genf Genf Genf.", "neu")), [chunks[0].doc_id])
    assert ranking(before, ["genf"]) == expected and len(before.by_id) == len(chunks)
    assert after.by_id[ranking(after, ["genf"])[0]].doc_id == "neu"


def test_a_time_key_keeps_only_chunks_filed_under_it():
    index = LexicalIndex.build(seed_chunks())
    found = ranking(index, ["genf", "treff"], "t_2023")
    assert found and all("t_2023" in index.by_id[i].time_keys for i in found)
    assert set(found) < set(ranking(index, ["genf", "treff"]))


def test_the_log_replays_to_the_same_index_and_a_cut_line_is_refused(tmp_path):
    chunks = seed_chunks()
    folder = tmp_path / "lexical"
    index = LexicalIndex.build(chunks)
    index.save(folder)
    added = chunk_article(parse_article("Ein Artikel über Bern und Genf.", "neu"))
    index = index.changed(added, ["neu", chunks[0].doc_id])
    index.log(folder, added, ["neu", chunks[0].doc_id])

    loaded = LexicalIndex.load(folder, index.stamp)
    assert loaded is not None and ranking(loaded, ["genf"]) == ranking(index, ["genf"])
    assert LexicalIndex.load(folder, stamp_of([])) is None  # another set of chunks: rebuild
    with open(folder / "log.jsonl", "a", encoding="utf-8") as log:
        log.write('{"removed": [')  # a write cut off by a crash
    assert LexicalIndex.load(folder, index.stamp) is None


def test_a_misspelled_term_is_corrected_to_a_live_one_only():
    chunks = seed_chunks()
    index = LexicalIndex.build(chunks)
    assert index.correct("lawrov") == "lawrow"
    without = index.changed([], sorted({c.doc_id for c in chunks if "lawrow" in terms(c.text)}))
    assert without.df("lawrow") == 0 and without.correct("lawrov") != "lawrow"


def test_compaction_is_due_only_after_a_share_of_the_index_was_written():
    index = LexicalIndex.build(seed_chunks())
    one = index.changed(chunk_article(parse_article("Ein kurzer Artikel.", "neu")), [])
    assert not one.needs_compaction(0.25)
    many = index.changed(
        [c for n in range(300) for c in chunk_article(parse_article(f"Artikel Nummer {n}.", f"a{n}"))], []
    )
    assert many.needs_compaction(0.25) and not many.compacted().needs_compaction(0.25)
