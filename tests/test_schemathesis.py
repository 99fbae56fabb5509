"""Issue 8, B1: schemathesis against the service's own OpenAPI schema, in-process (ASGI), with the fake embedder and
generator. Every route, positive and negative data (the examples, coverage and fuzzing phases), all checks: no
server error, every response as the schema says. The fuzzing phase is capped per route to stay well inside CI's
budget; the number of cases is printed at the end of the module."""

from __future__ import annotations

import atexit
import shutil
import tempfile
import time
from collections import Counter
from pathlib import Path

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, settings
from pydantic import BaseModel, ValidationError
from schemathesis.checks import positive_data_acceptance

from rag.errors import IngestError
from rag.ingest import parse_article
from service.app import create_app
from service.routes.openai import ChatRequest
from service.schemas import AskRequest, DocumentIn, SearchRequest
from tests.conftest import ARTICLES
from tests.test_service import make_runtime

FUZZ_EXAMPLES = 40  # per operation and mode; the coverage phase adds its own boundary cases on top
CASES: Counter[str] = Counter()
STATUSES: Counter[int] = Counter()

# schemathesis reads the schema when the module is collected, so the app exists then; the store opens in the fixture
_folder = Path(tempfile.mkdtemp(prefix="schemathesis-"))
atexit.register(shutil.rmtree, _folder, ignore_errors=True)
RUNTIME = make_runtime(_folder, ARTICLES, max_document_bytes=20_000)
APP = create_app(RUNTIME.settings, RUNTIME)


def without_lifespan(app):
    """The app for schemathesis's client, which starts a lifespan per call: the fixture's is already running."""

    async def asgi(scope, receive, send):
        if scope["type"] != "lifespan":
            return await app(scope, receive, send)
        while (await receive())["type"] != "lifespan.shutdown":
            await send({"type": "lifespan.startup.complete"})
        await send({"type": "lifespan.shutdown.complete"})

    return asgi


schema = schemathesis.openapi.from_asgi("/openapi.json", without_lifespan(APP))


@pytest.fixture(scope="module", autouse=True)
def running_service(pytestconfig):
    started = time.monotonic()
    with TestClient(APP):  # the lifespan opens the store and loads the fake model
        RUNTIME.wait_until_loaded()
        yield
    line = (
        f"schemathesis: {sum(CASES.values())} cases over {len(CASES)} operations in {time.monotonic() - started:.0f} s;"
        f" statuses {dict(sorted(STATUSES.items()))}"
    )
    report = pytestconfig.pluginmanager.get_plugin("terminalreporter")
    capture = pytestconfig.pluginmanager.get_plugin("capturemanager")
    if report is not None and capture is not None:
        with capture.global_and_fixture_disabled():  # the figure for the issue, shown without -s
            report.write_line("\n" + line)


REQUEST_MODELS: dict[str, type[BaseModel]] = {
    "/v1/ask": AskRequest, "/v1/search": SearchRequest, "/v1/chat/completions": ChatRequest, "/v1/documents": DocumentIn,
}  # fmt: skip


def unwritten_rule(case) -> str | None:
    """The rule a request breaks that JSON Schema cannot state (a question with no visible character, a reversed
    date range, a chat without a user's text, an article that is empty or binary), or None."""
    model = REQUEST_MODELS.get(case.operation.path)
    if model is None or case.method.upper() != "POST":
        return None
    try:
        if isinstance(case.body, str):  # a raw article (text/plain)
            parse_article(case.body, "doc")
            return None
        value = model.model_validate(case.body)
        if isinstance(value, DocumentIn):
            parse_article(value.text, "doc", date=value.date)
    except IngestError as exc:
        return str(exc)
    except ValidationError as exc:
        # the validators' own rules; a type, length or pattern error is one the schema states
        custom = [e for e in exc.errors() if e["type"] == "value_error"]
        return str(custom[0]["msg"]) if custom and len(custom) == len(exc.errors()) else None
    return None


@schema.parametrize()
@settings(max_examples=FUZZ_EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
def test_the_api_keeps_its_schema(case):
    CASES[case.operation.label] += 1
    rule = unwritten_rule(case)
    if rule is None:
        response = case.call_and_validate()  # every check: no 5xx, documented statuses, schema conformance, ...
    else:  # every check but "schema-valid data is accepted": the service refuses it, by a rule the schema cannot hold
        response = case.call_and_validate(excluded_checks=[positive_data_acceptance])
        assert response.status_code == 422, (rule, response.text)
    STATUSES[response.status_code] += 1
