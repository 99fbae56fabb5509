"""The local language model behind a small interface: how likely is each continuation of a prompt?

The default 270M base model cannot follow instructions, but its likelihoods are informative: asked which of
a few spans of the evidence best continues "Frage: … Antwort:", it picks the right one. The prompt is
evaluated once; each continuation then reuses its KV cache and costs only its own few tokens.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import numpy as np

from rag.errors import Cancelled

if TYPE_CHECKING:
    import httpx


class Generator(Protocol):
    name: str

    def chat_prompt(self, user_message: str) -> str | None:
        """The prompt that makes `user_message` the user's turn, or None for a model without a chat template."""
        ...

    def logprobs(
        self, prompt: str, continuations: list[str], cancel: threading.Event | None = None
    ) -> list[list[float]]:
        """The log-probability of each token of each continuation after `prompt`; raises Cancelled once
        `cancel` is set."""
        ...


def _route_llama_logs() -> None:
    """Send llama.cpp's own messages to Python logging (debug) instead of stderr: llama-cpp-python prints its
    notices even with verbose=False."""
    import ctypes

    import llama_cpp

    global _LOG_CALLBACK  # llama.cpp keeps only a pointer: the callback object must outlive this call
    if _LOG_CALLBACK is None:

        @llama_cpp.llama_log_callback
        def callback(level: int, text: bytes, user_data: ctypes.c_void_p) -> None:
            logging.getLogger("llama.cpp").debug(text.decode("utf-8", errors="replace").rstrip())

        _LOG_CALLBACK = callback
    llama_cpp.llama_log_set(_LOG_CALLBACK, ctypes.c_void_p(0))


_LOG_CALLBACK = None


class LlamaGenerator:
    # the prompt is evaluated in steps this long, so a withdrawn question frees the model within one step
    # (about 0.25 s on 2 cores); 64-token steps made a 742-token prompt 20% slower, 128 made it 2% slower
    PROMPT_STEP_TOKENS = 128

    def __init__(self, model_path: Path, threads: int = 2, context: int = 2048) -> None:
        from llama_cpp import Llama

        _route_llama_logs()
        self.name = model_path.stem
        self._llm = Llama(
            model_path=str(model_path),
            n_ctx=context,
            n_threads=threads,
            n_threads_batch=threads,
            flash_attn=True,
            swa_full=True,  # keep the whole prompt in cache so candidates can be evaluated after it
            verbose=False,
        )
        self._n_vocab = self._llm.n_vocab()
        self._lock = threading.Lock()  # a llama.cpp context serves one evaluation at a time
        self._chat_formatter = self._make_chat_formatter()
        self._chat_frame = self._frame_of_chat_template()

    def _make_chat_formatter(self):
        template = self._llm.metadata.get("tokenizer.chat_template")
        if not template:
            return None
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter

        vocab = self._llm._model
        return Jinja2ChatFormatter(
            template=template,
            eos_token=vocab.token_get_text(vocab.token_eos()),
            bos_token=vocab.token_get_text(vocab.token_bos()),
        )

    def _frame_of_chat_template(self) -> tuple[str, str] | None:
        """What the chat template puts before and after a user's message, found by rendering a marker."""
        if self._chat_formatter is None:
            return None
        marker = "\x00user message\x00"
        before, found, after = self.chat_prompt(marker).partition(marker)
        return (before, after) if found else None

    def chat_prompt(self, user_message: str) -> str | None:
        if self._chat_formatter is None:
            return None
        return self._chat_formatter(messages=[{"role": "user", "content": user_message}]).prompt

    def logprobs(
        self, prompt: str, continuations: list[str], cancel: threading.Event | None = None
    ) -> list[list[float]]:
        prompt_tokens = self._prompt_tokens(prompt)
        continuation_tokens = [self._tokens(c) for c in continuations]
        limit = self._llm.n_ctx() - max(map(len, continuation_tokens), default=0) - 1
        if len(prompt_tokens) > limit:  # keep BOS and the end of the prompt, where the question is
            prompt_tokens = prompt_tokens[:1] + prompt_tokens[len(prompt_tokens) - limit + 1 :]
        with self._lock:
            next_logits = self._evaluate_prompt(prompt_tokens, cancel)
            scores = []
            for tokens in continuation_tokens:
                _raise_if_withdrawn(cancel)
                scores.append(self._token_logprobs(len(prompt_tokens), next_logits, tokens))
            return scores

    def _prompt_tokens(self, prompt: str) -> list[int]:
        """Control tokens are parsed only in what the chat template put around the user's message: role tokens
        inside the message (an article's text, the question) stay text."""
        frame = self._chat_frame
        if frame is None or not (prompt.startswith(frame[0]) and prompt.endswith(frame[1])):
            return self._llm.tokenize(prompt.encode("utf-8"), add_bos=True, special=False)
        before, after = frame
        message = prompt[len(before) : len(prompt) - len(after)]
        return (
            self._llm.tokenize(before.encode("utf-8"), add_bos=True, special=True)
            + self._llm.tokenize(message.encode("utf-8"), add_bos=False, special=False)
            + self._llm.tokenize(after.encode("utf-8"), add_bos=False, special=True)
        )

    def _tokens(self, continuation: str) -> list[int]:
        return self._llm.tokenize(continuation.encode("utf-8"), add_bos=False, special=False)

    def _evaluate_prompt(self, tokens: list[int], cancel: threading.Event | None = None) -> np.ndarray:
        """Fill the KV cache with the prompt; return the logits that predict the token after it."""
        step = min(self._llm.n_batch, self.PROMPT_STEP_TOKENS)
        self._llm._ctx.kv_cache_seq_rm(-1, 0, -1)
        for first in range(0, len(tokens), step):
            _raise_if_withdrawn(cancel)
            self._decode(tokens[first : first + step], n_past=first, logits_all=False)
        return self._logits(rows=1)[0].copy()

    def _token_logprobs(self, n_prompt: int, next_logits: np.ndarray, tokens: list[int]) -> list[float]:
        if not tokens:
            return []
        predictors = next_logits[None, :]  # the prompt's last logits predict token 0
        if len(tokens) > 1:  # row i of the continuation predicts token i+1; the last token predicts nothing needed
            self._llm._ctx.kv_cache_seq_rm(-1, n_prompt, -1)
            self._decode(tokens[:-1], n_past=n_prompt, logits_all=True)
            predictors = np.vstack([predictors, self._logits(rows=len(tokens) - 1)])
        picked = predictors[np.arange(len(tokens)), tokens]
        return (picked - _log_sum_exp(predictors)).tolist()

    def _decode(self, tokens: list[int], n_past: int, logits_all: bool) -> None:
        self._llm._batch.set_batch(batch=tokens, n_past=n_past, logits_all=logits_all)
        self._llm._ctx.decode(self._llm._batch)

    def _logits(self, rows: int) -> np.ndarray:
        flat = np.ctypeslib.as_array(self._llm._ctx.get_logits(), shape=(rows * self._n_vocab,))
        return flat.reshape(rows, self._n_vocab)


def _raise_if_withdrawn(cancel: threading.Event | None) -> None:
    if cancel is not None and cancel.is_set():
        raise Cancelled("the question was withdrawn")


def _log_sum_exp(rows: np.ndarray) -> np.ndarray:
    """Per row; twenty times faster than np.logaddexp.reduce over Gemma's 262k-token vocabulary."""
    top = rows.max(axis=1)
    return top + np.log(np.exp(rows - top[:, None]).sum(axis=1))


class RemoteGenerator:
    """The model on another server.

    `rag serve-model` scores all of a question's candidates in one `POST /v1/score`, as fast as in-process but for
    the round trip. Any other OpenAI-compatible completion server (llama-cpp-python's `python -m llama_cpp.server
    --logits_all true`) is used token by token: each continuation token is forced with a logit bias and its
    log-probability read from `logprobs` (computed before the bias); that server spends about 0.4 s on each.
    """

    FORCE = 100  # logit bias that makes the wanted token the only choice

    def __init__(self, base_url: str, timeout: float = 120.0, client: httpx.Client | None = None) -> None:
        import httpx

        self.name = f"remote:{base_url}"
        self._http = client or httpx.Client(base_url=base_url.rstrip("/"), timeout=timeout)
        self._lock = threading.Lock()
        self._scores_in_one_request: bool | None = None  # whether the server has /v1/score; asked on first use
        self._bos: list[int] | None = None

    def chat_prompt(self, user_message: str) -> str | None:
        return None  # the server applies no template to raw completions; the completion prompt is used

    def logprobs(
        self, prompt: str, continuations: list[str], cancel: threading.Event | None = None
    ) -> list[list[float]]:
        _raise_if_withdrawn(cancel)
        if self._scores_in_one_request is not False:
            response = self._http.post("/v1/score", json={"prompt": prompt, "continuations": continuations})
            self._scores_in_one_request = response.status_code != 404
            if self._scores_in_one_request:
                response.raise_for_status()
                return response.json()["logprobs"]
        return self._forced_logprobs(prompt, continuations, cancel)

    def _forced_logprobs(
        self, prompt: str, continuations: list[str], cancel: threading.Event | None
    ) -> list[list[float]]:
        scores = []
        with self._lock:
            for continuation in continuations:
                text, logprobs = prompt, []
                for token in self._tokenize(continuation):
                    _raise_if_withdrawn(cancel)
                    piece, logprob = self._forced(text, token)
                    text += piece
                    logprobs.append(logprob)
                scores.append(logprobs)
        return scores

    def _tokenize(self, text: str) -> list[int]:
        """The text's tokens without the BOS token the server puts first."""
        if self._bos is None:
            self._bos = self._server_tokens("")
        tokens, bos = self._server_tokens(text), self._bos
        return tokens[len(bos) :] if bos and tokens[: len(bos)] == bos else tokens

    def _server_tokens(self, text: str) -> list[int]:
        response = self._http.post("/extras/tokenize", json={"input": text})
        response.raise_for_status()
        return response.json()["tokens"]

    def _forced(self, prompt: str, token: int) -> tuple[str, float]:
        response = self._http.post(
            "/v1/completions",
            json={"prompt": prompt, "max_tokens": 1, "temperature": 0, "logprobs": 1,
                  "logit_bias": {str(token): self.FORCE}},
        )  # fmt: skip
        response.raise_for_status()
        choice = response.json()["choices"][0]
        return choice["text"], choice["logprobs"]["token_logprobs"][0]
