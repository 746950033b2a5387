"""The parser and embedder stand-ins, over real HTTP on ports the OS picks."""

from __future__ import annotations

import contextlib
import math
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator

import httpx
import pytest
from docpipe.faults import Faults
from docpipe.stubs import ErrorCounter, running
from docpipe.stubs.embedder import EmbedderConfig
from docpipe.stubs.embedder import create_app as embedder_app
from docpipe.stubs.parser import ParserConfig
from docpipe.stubs.parser import create_app as parser_app
from starlette.applications import Starlette

Serve = Callable[[Starlette], str]


@pytest.fixture
def serve() -> Iterator[Serve]:
    """Serve apps on 127.0.0.1 for the test's duration; returns each one's base URL."""
    with contextlib.ExitStack() as stack:
        yield lambda app: stack.enter_context(running(app))


def upload(client: httpx.Client, base: str, data: bytes, **headers: str) -> httpx.Response:
    files = {"file": ("doc.txt", data, "text/plain")}
    return client.post(f"{base}/api/parsing/upload", files=files, headers=headers)


def wait_for_job(client: httpx.Client, base: str, job_id: str) -> dict[str, str]:
    deadline = time.monotonic() + 10
    while True:
        body: dict[str, str] = client.get(f"{base}/api/parsing/job/{job_id}").json()
        if body["status"] != "PENDING" or time.monotonic() > deadline:
            return body
        time.sleep(0.02)  # polling the job's status, as a client does


def test_parser_turns_an_upload_into_a_job_whose_result_is_the_text(serve: Serve) -> None:
    base = serve(parser_app(ParserConfig()))
    with httpx.Client() as client:
        created = upload(client, base, "first page\fsecond page ü".encode())
        assert created.status_code == 200
        assert created.json()["status"] == "PENDING"
        job_id = created.json()["id"]
        assert wait_for_job(client, base, job_id) == {"id": job_id, "status": "SUCCESS"}
        result = client.get(f"{base}/api/parsing/job/{job_id}/result/text").json()
    assert result == {"text": "first page\n\nsecond page ü", "job_metadata": {"job_pages": 2}}


def test_parser_reads_the_text_of_a_pdf_like_file(serve: Serve) -> None:
    base = serve(parser_app(ParserConfig()))
    pdf = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\nPatient summary\n%%EOF\n"
    with httpx.Client() as client:
        job_id = upload(client, base, pdf).json()["id"]
        assert wait_for_job(client, base, job_id)["status"] == "SUCCESS"
        result = client.get(f"{base}/api/parsing/job/{job_id}/result/text").json()
    assert result["text"] == "Patient summary"


@pytest.mark.parametrize(
    "data", [b"\x89PNG\r\n\x1a\n\x00\x00\xff\xfe", b"", b"   \n\f  ", b"%PDF-1.4\n%%EOF\n"]
)
def test_parser_fails_the_job_of_an_unparseable_document(serve: Serve, data: bytes) -> None:
    base = serve(parser_app(ParserConfig()))
    with httpx.Client() as client:
        job_id = upload(client, base, data).json()["id"]
        body = wait_for_job(client, base, job_id)
        result = client.get(f"{base}/api/parsing/job/{job_id}/result/text")
    assert body["status"] == "ERROR"
    assert body["error_message"].startswith("unparseable document")
    assert result.status_code == 409


def test_parser_keeps_a_job_pending_for_the_configured_latency(serve: Serve) -> None:
    base = serve(parser_app(ParserConfig(latency_s=0.4)))
    with httpx.Client() as client:
        started = time.monotonic()
        job_id = upload(client, base, b"slow").json()["id"]
        assert client.get(f"{base}/api/parsing/job/{job_id}").json()["status"] == "PENDING"
        assert wait_for_job(client, base, job_id)["status"] == "SUCCESS"
    assert time.monotonic() - started >= 0.4


def test_parser_fails_every_second_upload_at_error_rate_one_half(serve: Serve) -> None:
    base = serve(parser_app(ParserConfig(error_rate=0.5)))
    with httpx.Client() as client:
        codes = [upload(client, base, b"text").status_code for _ in range(6)]
        assert client.get(f"{base}/api/parsing/job/unknown").status_code == 404
    assert codes == [503, 200, 503, 200, 503, 200]


def test_parser_reads_latency_and_error_rate_from_the_environment() -> None:
    env = {"DOCPIPE_PARSER_LATENCY_S": "1.5", "DOCPIPE_PARSER_ERROR_RATE": "0.25"}
    assert ParserConfig.from_env(env) == ParserConfig(latency_s=1.5, error_rate=0.25)
    with pytest.raises(SystemExit, match="DOCPIPE_PARSER_ERROR_RATE"):
        ParserConfig.from_env({"DOCPIPE_PARSER_ERROR_RATE": "2"})


@pytest.mark.parametrize("make", [parser_app, embedder_app])
def test_both_stubs_require_the_service_key_when_one_is_set(
    serve: Serve, make: Callable[..., Starlette]
) -> None:
    config = ParserConfig if make is parser_app else EmbedderConfig
    base = serve(make(config(service_key="s3cret")))
    path = "/api/parsing/upload" if make is parser_app else "/v1/embeddings"
    with httpx.Client() as client:
        missing = client.post(f"{base}{path}")
        wrong = client.post(f"{base}{path}", headers={"Authorization": "Bearer nope"})
        right = client.post(f"{base}{path}", headers={"Authorization": "Bearer s3cret"})
        health = client.get(f"{base}/health")
    assert (missing.status_code, wrong.status_code) == (401, 401)
    assert missing.headers["www-authenticate"] == "Bearer"
    assert right.status_code == 400  # past auth, on to the (empty) request itself
    assert health.status_code == 200
    assert "server" not in health.headers


def test_embedder_answers_in_the_openai_shape(serve: Serve) -> None:
    base = serve(embedder_app(EmbedderConfig()))
    with httpx.Client() as client:
        body = client.post(
            f"{base}/v1/embeddings", json={"model": "m", "input": ["one two", "three"]}
        ).json()
    assert body["object"] == "list"
    assert body["model"] == "m"
    assert body["usage"] == {"prompt_tokens": 3, "total_tokens": 3}
    assert [(d["object"], d["index"]) for d in body["data"]] == [("embedding", 0), ("embedding", 1)]
    for item in body["data"]:
        assert len(item["embedding"]) == 64
        assert math.isclose(math.fsum(v * v for v in item["embedding"]), 1.0)


def test_embedder_gives_the_same_text_the_same_vector_every_time(serve: Serve) -> None:
    first = serve(embedder_app(EmbedderConfig()))
    second = serve(embedder_app(EmbedderConfig()))
    with httpx.Client() as client:

        def vectors(base: str, texts: str | list[str]) -> list[list[float]]:
            body = client.post(f"{base}/v1/embeddings", json={"model": "m", "input": texts})
            return [item["embedding"] for item in body.json()["data"]]

        a, b = vectors(first, ["alpha", "beta"])
        assert vectors(second, "alpha") == [a]
        assert vectors(first, ["beta"]) == [b]
    assert a != b


def test_embedder_dimension_comes_from_the_environment(serve: Serve) -> None:
    config = EmbedderConfig.from_env({"DOCPIPE_EMBEDDER_DIMENSIONS": "16"})
    base = serve(embedder_app(config))
    with httpx.Client() as client:
        body = client.post(f"{base}/v1/embeddings", json={"model": "m", "input": "x"}).json()
    assert len(body["data"][0]["embedding"]) == 16


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"[]",
        b'{"input": "x"}',
        b'{"model": "m"}',
        b'{"model": "m", "input": []}',
        b'{"model": "m", "input": ["ok", 3]}',
        b'{"model": "m", "input": [""]}',
        b'{"model": "m", "input": "x", "dimensions": 0}',
    ],
)
def test_embedder_rejects_a_malformed_request_with_400(serve: Serve, body: bytes) -> None:
    base = serve(embedder_app(EmbedderConfig()))
    with httpx.Client() as client:
        response = client.post(f"{base}/v1/embeddings", content=body)
    assert response.status_code == 400
    assert response.json()["error"]["type"] == "invalid_request_error"


def test_embedder_fails_every_request_at_error_rate_one(serve: Serve) -> None:
    base = serve(embedder_app(EmbedderConfig(error_rate=1.0)))
    with httpx.Client() as client:
        codes = {
            client.post(f"{base}/v1/embeddings", json={"model": "m", "input": "x"}).status_code
            for _ in range(3)
        }
    assert codes == {500}


def test_embedder_latency_and_slow_embedder_fault_delay_every_request(serve: Serve) -> None:
    faults = Faults.parse(["slow_embedder=0.3"])
    base = serve(embedder_app(EmbedderConfig(latency_s=0.1, faults=faults)))
    with httpx.Client() as client:
        started = time.monotonic()
        response = client.post(f"{base}/v1/embeddings", json={"model": "m", "input": "x"})
    assert response.status_code == 200
    assert time.monotonic() - started >= 0.4


def test_slow_embedder_fault_defaults_to_two_and_a_half_seconds() -> None:
    config = EmbedderConfig.from_env({"DOCPIPE_FAULTS": "slow_embedder"})
    assert config.delay_s == 2.5
    assert EmbedderConfig.from_env({}).delay_s == 0.0


def test_error_counter_fails_a_deterministic_share_of_calls() -> None:
    counter = ErrorCounter(0.2)
    failures = [n for n in range(1, 21) if counter.should_fail()]
    assert failures == [1, 6, 11, 16]
    assert not any(ErrorCounter(0.0).should_fail() for _ in range(10))


@pytest.mark.parametrize("module", ["docpipe.stubs.parser", "docpipe.stubs.embedder"])
def test_stub_command_serves_on_the_port_it_reports_and_stops_on_sigterm(module: str) -> None:
    env = {**os.environ, "DOCPIPE_SERVICE_KEY": "k", "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(
        [sys.executable, "-m", module, "--host", "127.0.0.1", "--port", "0"],
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stderr is not None
        line = process.stderr.readline()
        match = re.search(r"listening on (http://127\.0\.0\.1:\d+)", line)
        assert match, line
        health = httpx.get(f"{match[1]}/health", timeout=5)
        assert health.json() == {"status": "ok"}
        assert "server" not in health.headers
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        if process.stderr is not None:
            process.stderr.close()
