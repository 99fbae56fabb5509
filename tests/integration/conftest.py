from __future__ import annotations

import pytest

from rag.settings import Settings
from tests.conftest import ARTICLES, ROOT


@pytest.fixture(scope="session")
def real_settings(tmp_path_factory) -> Settings:
    return Settings(store_dir=tmp_path_factory.mktemp("var"), articles_dir=ARTICLES)


@pytest.fixture(scope="session")
def real_store(real_settings):
    from rag.services import ingest_folder, open_store

    store = open_store(real_settings)
    with store.writer():
        ingest_folder(store, ARTICLES, real_settings)
    return store


@pytest.fixture(scope="session")
def real_answerer(real_settings, real_store):
    from rag.services import build_answerer

    return build_answerer(real_settings, real_store)


@pytest.fixture(scope="session")
def english_answerer(real_settings, real_store, real_answerer):
    """The same parts with the example alias file: English questions need its English-German words."""
    from rag.answer import Answerer

    settings = real_settings.model_copy(update={"aliases_path": ROOT / "data" / "aliases.example.tsv"})
    return Answerer(real_store, real_answerer.retriever, real_answerer.generator, settings)
