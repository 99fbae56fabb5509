"""Command line: `rag ingest [PATH]`, `rag ask "…" [--json]`, `rag serve`, `rag serve-model`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from pydantic import ValidationError

from rag.errors import RagError
from rag.settings import MAX_QUESTION_CHARS, MAX_TOP_K, Settings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="rag", description="Grounded question answering over German news articles")
    commands = parser.add_subparsers(dest="command", required=True)
    ingest = commands.add_parser("ingest", help="sync the store with a folder of articles")
    ingest.add_argument("path", nargs="?", type=Path, help="folder of *.txt articles (default: RAG_ARTICLES_DIR)")
    ask = commands.add_parser("ask", help="answer one question")
    ask.add_argument("question")
    ask.add_argument("--top-k", type=int, default=None)
    ask.add_argument("--json", action="store_true", help="print the API's JSON answer")
    commands.add_parser("serve", help="serve the HTTP API")
    serve_model = commands.add_parser("serve-model", help="serve the language model alone, for RAG_LLM_URL")
    serve_model.add_argument("--host", default="127.0.0.1")
    serve_model.add_argument("--port", type=int, default=8080)
    args = parser.parse_args(argv)

    try:
        settings = Settings()
        if args.command == "ingest":
            return _ingest(settings, args.path or settings.articles_dir)
        if args.command == "ask":
            return _ask(settings, args.question, args.top_k or settings.top_k, args.json)
        if args.command == "serve-model":
            return _serve_model(settings, args.host, args.port)
        return _serve(settings)
    except ValidationError as exc:
        print(f"rag: invalid settings: {exc}", file=sys.stderr)
    except RagError as exc:
        print(f"rag: {exc}", file=sys.stderr)
    return 1


def _ingest(settings: Settings, folder: Path) -> int:
    from rag.services import check_folder, ingest_folder, open_store

    check_folder(folder)  # before the store is opened: a refused path writes nothing
    store = open_store(settings, writer=True)  # the lock first: a refused writer never opens the store
    with store.writer():
        result = ingest_folder(store, folder, settings, progress=sys.stderr.isatty())
    for error in result.errors:
        print(f"rag: skipped: {error}", file=sys.stderr)
    print(f"ingested {folder}: {result.report} ({store.chunk_count()} chunks)")
    return 1 if result.errors else 0


def _ask(settings: Settings, question: str, top_k: int, as_json: bool) -> int:
    from rag.services import build_answerer, open_store

    if not question.strip() or len(question) > MAX_QUESTION_CHARS or not 1 <= top_k <= MAX_TOP_K:
        print(
            f"rag: the question must have 1 to {MAX_QUESTION_CHARS} characters, and --top-k be 1 to {MAX_TOP_K}",
            file=sys.stderr,
        )
        return 2
    store = open_store(settings, create=False)  # asking never makes an empty store
    store.warm_up()
    answer = build_answerer(settings, store).ask(question, top_k)
    if as_json:
        from service.schemas import AskResponse

        print(AskResponse.from_answer(answer).model_dump_json(indent=2))
        return 0
    print(answer.answer)
    if answer.reason:
        print(f"  ({answer.reason})")
    for c in answer.citations:
        print(f"  [{c.n}] {c.source} ({c.date or 'ohne Datum'}), Zeichen {c.char_start}-{c.char_end}: „{c.quote}“")
    return 0


def _serve(settings: Settings) -> int:
    import signal

    import uvicorn

    from service.app import create_app
    from service.runtime import Runtime

    runtime = Runtime(settings)
    runtime.start()  # before the port opens: a store held by another writer stops here (StoreLocked, exit 1)
    config = uvicorn.Config(
        create_app(settings, runtime),
        host=settings.host,
        port=settings.port,
        log_level="info",
        timeout_graceful_shutdown=settings.shutdown_grace_s,
    )
    server = uvicorn.Server(config)
    # the event loop shares the GIL with the question workers' Python: it waits at most 1 ms (not 5) for its turn,
    # so a surplus question is refused in milliseconds while others are being answered
    sys.setswitchinterval(0.001)
    # uvicorn re-raises the signal that stopped it once its graceful shutdown is done; here that shutdown is the
    # normal end (exit 0), not a death by signal
    for stop_signal in (signal.SIGTERM, signal.SIGINT):
        signal.signal(stop_signal, lambda *_: None)
    server.run()
    return 0 if server.started else 1


def _serve_model(settings: Settings, host: str, port: int) -> int:
    import uvicorn

    from rag.llm import LlamaGenerator
    from service.model_app import create_model_app

    generator = LlamaGenerator(settings.resolved_llm_path(), threads=settings.llm_threads, context=settings.llm_context)
    uvicorn.run(create_model_app(generator), host=host, port=port, log_level="info")
    return 0


if __name__ == "__main__":
    sys.exit(main())
