"""`rag serve-model`'s app and the client that uses it, with a fake model: one request per question, clear 4xx for
bad requests, and the token-by-token path for a server without /v1/score."""

import json
import threading

import httpx
import pytest
from fastapi.testclient import TestClient

from rag.errors import Cancelled
from rag.llm import RemoteGenerator
from service.model_app import MAX_CONTINUATIONS, create_model_app
from tests.conftest import FakeGenerator


@pytest.fixture
def model_server():
    generator = FakeGenerator(preferred=["Genf"])
    with TestClient(create_model_app(generator)) as client:
        yield client, generator


def test_one_request_scores_every_candidate_as_the_model_does(model_server):
    client, generator = model_server
    remote = RemoteGenerator("http://model", client=client)
    assert remote.logprobs("Frage: Wo? Antwort:", [" Genf", " Bern"]) == [[-1.0], [-10.0]]
    assert generator.prompts == ["Frage: Wo? Antwort:"]  # one evaluation for both candidates
    assert remote.logprobs("Frage: Wo? Antwort:", []) == []


@pytest.mark.parametrize(
    "body, field",
    [
        ({"prompt": "", "continuations": [" a"]}, "prompt"),
        ({"prompt": "x", "continuations": [" a"] * (MAX_CONTINUATIONS + 1)}, "continuations"),
        ({"prompt": "x", "continuations": "a"}, "continuations"),
        ({"prompt": "x", "continuations": [" a"], "temperature": 1}, "temperature"),
        ({"continuations": [" a"]}, "prompt"),
    ],
)
def test_a_bad_request_gets_a_422_naming_the_field(model_server, body, field):
    response = model_server[0].post("/v1/score", json=body)
    assert response.status_code == 422
    assert field in response.json()["error"]


def test_a_withdrawn_question_sends_no_request(model_server):
    client, generator = model_server
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(Cancelled):
        RemoteGenerator("http://model", client=client).logprobs("x", [" a"], cancel)
    assert generator.prompts == []


def test_a_server_without_the_score_route_is_asked_token_by_token():
    """llama-cpp-python's server: each token forced by a logit bias, its log-probability read from `logprobs`."""
    vocabulary = {"": [1], " Genf": [1, 7], " Neu Delhi": [1, 8, 9]}
    logprob_of = {7: -0.5, 8: -2.0, 9: -0.25}
    asked: list[str] = []

    def serve(request: httpx.Request) -> httpx.Response:
        asked.append(request.url.path)
        body = json.loads(request.content or b"{}")
        if request.url.path == "/extras/tokenize":
            return httpx.Response(200, json={"tokens": vocabulary[body["input"]]})
        if request.url.path == "/v1/completions":
            token = int(next(iter(body["logit_bias"])))
            choice = {"text": f"<{token}>", "logprobs": {"token_logprobs": [logprob_of[token]]}}
            return httpx.Response(200, json={"choices": [choice]})
        return httpx.Response(404, json={"detail": "Not Found"})

    client = httpx.Client(base_url="http://llama", transport=httpx.MockTransport(serve))
    remote = RemoteGenerator("http://llama", client=client)
    assert remote.logprobs("Antwort:", [" Genf", " Neu Delhi"]) == [[-0.5], [-2.0, -0.25]]
    assert asked.count("/v1/score") == 1 and asked.count("/v1/completions") == 3
    remote.logprobs("Antwort:", [" Genf"])
    assert asked.count("/v1/score") == 1  # asked once: the server does not grow the route
