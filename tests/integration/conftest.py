from __future__ import annotations

import pytest

from rag.settings import Settings
from tests.conftest import ARTICLES


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
