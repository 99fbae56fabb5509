"""The PassageStore contract: what answering reads, kept alike by the embedded store and by one on a Chroma server
(`chroma run` as a process on loopback). Every test runs against both."""

import shutil
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from rag.errors import DocumentNotFound
from rag.ingest import parse_article
from rag.services import chroma_http_client
from rag.store import PassageStore, Store
from rag.timescope import DateRange, Period
from tests.conftest import FakeEmbedder, free_port

ARTICLES = {
    "faehre": " date 2023-04 Die neue Fähre verbindet Cuxhaven mit Helgoland. Sie fährt täglich um neun Uhr ab. "
    "Der Betreiber hofft auf viele Ausflügler.",
    "orgel": " date 2021-11 In der Dorfkirche von Wittstock wurde eine restaurierte Orgel geweiht. Die Orgelbauer "
    "arbeiteten zwei Jahre daran. Im Jahr 2019 war sie noch stumm.",
    "hafen": " date 2023-02 Der Hafen von Cuxhaven meldet mehr Umschlag als im Vorjahr. Vor allem Windkraftanlagen "
    "werden verschifft.",
}


@pytest.fixture(scope="module")
def chroma_server(tmp_path_factory):
    port = free_port()
    chroma = shutil.which("chroma", path=str(Path(sys.executable).parent)) or "chroma"
    log = (tmp_path_factory.mktemp("logs") / "chroma.log").open("w")
    command = [chroma, "run", "--path", str(tmp_path_factory.mktemp("chroma")), "--host", "127.0.0.1", "--port", str(port)]
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert process.poll() is None, f"chroma run exited with {process.returncode}"
            try:
                if httpx.get(f"{url}/api/v2/heartbeat", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.2)
        else:
            pytest.fail("chroma run did not come up")
        yield url
    finally:
        process.terminate()
        process.wait(20)


def _on_server(tmp_path: Path, request) -> Store:
    client = chroma_http_client(request.getfixturevalue("chroma_server"))
    for name in ("chunks", "documents"):  # each test starts from an empty server
        if name in {c.name for c in client.list_collections()}:
            client.delete_collection(name)
    return Store(tmp_path / "cache", FakeEmbedder(), client, recheck_seconds=0.2)


@pytest.fixture(params=["embedded", pytest.param("chroma-server", marks=pytest.mark.integration)])
def passage_store(request, tmp_path) -> Store:
    store = Store(tmp_path / "var", FakeEmbedder()) if request.param == "embedded" else _on_server(tmp_path, request)
    with store.writer():
        store.sync([parse_article(raw, doc_id) for doc_id, raw in ARTICLES.items()])
    yield store
    store.close()


def _doc_ids(store: PassageStore, chunk_ids: list[str]) -> list[str]:
    chunks = store.chunks(chunk_ids)
    return [chunks[i].doc_id for i in chunk_ids]


def test_lexical_search_ranks_the_chunks_that_hold_the_terms(passage_store):
    assert _doc_ids(passage_store, passage_store.lexical_search(["orgel", "weih"], 5)) == ["orgel"]
    assert set(_doc_ids(passage_store, passage_store.lexical_search(["cuxhav"], 5))) == {"faehre", "hafen"}
    assert passage_store.lexical_search(["unbekanntwort"], 5) == []


def test_both_searches_keep_to_the_period_asked_for(passage_store):
    vector = FakeEmbedder().embed(["Cuxhaven Fähre Hafen Orgel"])[0]
    assert _doc_ids(passage_store, passage_store.lexical_search(["cuxhav"], 5, "t_2023_04")) == ["faehre"]
    dense = [i for i, _ in passage_store.dense_search(vector, 5, "t_2021")]
    assert _doc_ids(passage_store, dense) == ["orgel"]
    # an article is filed under the years its sentences name: the organ was silent in 2019
    assert _doc_ids(passage_store, passage_store.lexical_search(["stumm"], 5, "t_2019")) == ["orgel"]
    assert passage_store.lexical_search(["cuxhav"], 5, "t_2020") == []


def test_both_searches_keep_to_articles_dated_in_a_range(passage_store):
    vector = FakeEmbedder().embed(["Cuxhaven Fähre Hafen Orgel"])[0]
    spring_2023 = DateRange(Period(2023, 3), Period(2023))
    assert _doc_ids(passage_store, passage_store.lexical_search(["cuxhav"], 5, dated=spring_2023)) == ["faehre"]
    assert _doc_ids(passage_store, [i for i, _ in passage_store.dense_search(vector, 5, dated=spring_2023)]) == [
        "faehre"
    ]
    until_2022 = DateRange(last=Period(2022))
    assert _doc_ids(passage_store, [i for i, _ in passage_store.dense_search(vector, 5, dated=until_2022)]) == [
        "orgel"
    ]
    # both filters at once: dated in 2021, and speaking of 2019
    assert _doc_ids(passage_store, passage_store.lexical_search(["stumm"], 5, "t_2019", until_2022)) == ["orgel"]
    nothing_then = DateRange(Period(2010), Period(2012))
    assert passage_store.dense_search(vector, 5, dated=nothing_then) == []
    assert passage_store.lexical_search(["cuxhav"], 5, dated=nothing_then) == []


def test_dense_search_returns_similarities_best_first_and_at_most_n(passage_store):
    vector = FakeEmbedder().embed(["Die neue Fähre verbindet Cuxhaven mit Helgoland."])[0]
    found = passage_store.dense_search(vector, 2)
    assert len(found) == 2
    assert _doc_ids(passage_store, [found[0][0]]) == ["faehre"]
    assert found[0][1] >= found[1][1] and -1.0 <= found[1][1] <= found[0][1] <= 1.0 + 1e-6


def test_chunks_are_looked_up_by_id_and_unknown_ids_are_left_out(passage_store):
    found = passage_store.lexical_search(["helgoland"], 1)
    chunks = passage_store.chunks(found + ["no-such-chunk"])
    assert list(chunks) == found
    chunk = chunks[found[0]]
    assert "Helgoland" in chunk.text and chunk.doc_id == "faehre" and str(chunk.date) == "2023-04"
    document = passage_store.document("faehre")
    assert document.text[chunk.start : chunk.end] == chunk.text


def test_documents_are_whole_and_a_missing_one_is_not_found(passage_store):
    document = passage_store.document("orgel")
    assert document.text.startswith("In der Dorfkirche") and str(document.date) == "2021-11"
    with pytest.raises(DocumentNotFound):
        passage_store.document("gibt-es-nicht")


def test_the_vocabulary_corrects_weighs_and_knows_each_articles_terms(passage_store):
    vocabulary = passage_store.vocabulary()
    assert vocabulary.correct("helgolnd") == "helgoland"
    assert vocabulary.correct("cuxhav") == "cuxhav"
    assert vocabulary.idf("orgel") > vocabulary.idf("cuxhav") > 0
    assert {"orgel", "wittstock"} <= vocabulary.terms_of_article("orgel")
    assert "orgel" not in vocabulary.terms_of_article("hafen")
    assert vocabulary.terms_of_article("gibt-es-nicht") == frozenset()


def test_a_write_shows_in_every_read(passage_store):
    with passage_store.writer():
        passage_store.put(parse_article(" date 2024-06 Die Fähre nach Helgoland fällt im Juni aus.", "ausfall"))
        passage_store.delete("orgel")
    assert "ausfall" in _doc_ids(passage_store, passage_store.lexical_search(["helgoland"], 5, "t_2024"))
    assert passage_store.lexical_search(["orgel"], 5) == []
    assert not passage_store.chunks(passage_store.lexical_search(["orgel"], 5))
    assert passage_store.vocabulary().terms_of_article("orgel") == frozenset()
    with pytest.raises(DocumentNotFound):
        passage_store.document("orgel")
    vector = FakeEmbedder().embed(["Orgel Dorfkirche Wittstock"])[0]
    assert "orgel" not in _doc_ids(passage_store, [i for i, _ in passage_store.dense_search(vector, 10)])


def test_a_time_filter_keeps_n_chunks_of_the_period_though_others_are_nearer(passage_store):
    others = [parse_article(f" date 2022-0{1 + k % 9} Die Fähre nach Helgoland, Fahrt {k}.", f"f{k}") for k in range(40)]
    with passage_store.writer():
        passage_store.sync(others, prune=False)
    vector = FakeEmbedder().embed(["Die Fähre nach Helgoland, Fahrt"])[0]
    nearest = passage_store.dense_search(vector, 3)
    assert all(d.startswith("f") for d in _doc_ids(passage_store, [i for i, _ in nearest]))
    in_2023 = [i for i, _ in passage_store.dense_search(vector, 2, "t_2023")]
    assert sorted(_doc_ids(passage_store, in_2023)) == ["faehre", "hafen"]
