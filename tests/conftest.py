from __future__ import annotations

import hashlib
import math
import os
import shutil
import socket
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")

ROOT = Path(__file__).resolve().parent.parent
ARTICLES = ROOT / "data" / "articles"


def free_port() -> int:
    """A TCP port on loopback that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class FakeEmbedder:
    """Hashed bag of words: similar texts get similar vectors, and it costs nothing."""

    dimensions = 64

    def embed(self, texts: list[str]) -> list[list[float]]:
        vectors = []
        for text in texts:
            vector = [0.0] * self.dimensions
            for word in text.lower().split():
                vector[int(hashlib.md5(word.encode()).hexdigest(), 16) % self.dimensions] += 1.0
            norm = math.sqrt(sum(v * v for v in vector)) or 1.0
            vectors.append([v / norm for v in vector])
        return vectors


class FakeGenerator:
    """Prefers the continuations listed in `preferred`, in that order; everything else scores low."""

    name = "fake"

    def __init__(self, preferred: list[str] | None = None, chat: bool = False) -> None:
        self.preferred = preferred or []
        self.chat = chat
        self.prompts: list[str] = []

    def chat_prompt(self, user_message: str) -> str | None:
        return f"<user>{user_message}</user><assistant>" if self.chat else None

    def logprobs(self, prompt: str, continuations: list[str], cancel=None) -> list[list[float]]:
        if cancel is not None and cancel.is_set():
            from rag.errors import Cancelled

            raise Cancelled("withdrawn")
        self.prompts.append(prompt)
        return [
            [-1.0 - self.preferred.index(c.strip())] if c.strip() in self.preferred else [-10.0] for c in continuations
        ]


@pytest.fixture
def fake_embedder() -> FakeEmbedder:
    return FakeEmbedder()


@pytest.fixture
def articles_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "articles"
    shutil.copytree(ARTICLES, folder)
    return folder


@pytest.fixture
def store(tmp_path: Path, fake_embedder: FakeEmbedder):
    from rag.store import Store

    return Store(tmp_path / "var", fake_embedder)
