"""A LlamaParse-shaped parser stand-in: upload a file, poll the job, fetch the text.

    POST /api/parsing/upload              multipart ``file`` -> {"id", "status": "PENDING"}
    GET  /api/parsing/job/{id}            -> {"id", "status", "error_message"?}
    GET  /api/parsing/job/{id}/result/text -> {"text", "job_metadata": {"job_pages"}}
    GET  /health

A job stays PENDING for ``DOCPIPE_PARSER_LATENCY_S`` and then becomes SUCCESS, or ERROR with
``error_message`` when the file is not text (binary, empty, or a PDF with no text in it).
``DOCPIPE_PARSER_ERROR_RATE`` makes that share of uploads answer 503, deterministically (see
``ErrorCounter``); status and result reads never fail, so one failure is one failed attempt.
``DOCPIPE_SERVICE_KEY``, when set, is required as a bearer token on everything but /health.

    python -m docpipe.stubs.parser --host 127.0.0.1 --port 8444
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import os
import re
import uuid
from collections.abc import Mapping, Sequence

from starlette.applications import Starlette
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from . import ErrorCounter, check_auth, env_float, main

__all__ = ["ParserConfig", "Unparseable", "create_app", "parse_document"]

UNPARSEABLE = "unparseable document"
# Jobs are kept in memory; the oldest are forgotten past this many, as a real service expires them.
MAX_JOBS = 10_000
# Control characters other than tab, newline, carriage return and form feed mean "not text".
_BINARY = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f]")


class Unparseable(ValueError):
    pass


def parse_document(data: bytes) -> tuple[str, int]:
    """The text of a document and its page count (pages are separated by form feeds).

    Plain UTF-8 text is taken as is. A PDF-like file (``%PDF`` first) has its ``%`` comment
    lines dropped — the header, the binary marker, ``%%EOF`` — and the rest read as text.
    """
    if data.startswith(b"%PDF"):
        data = b"\n".join(line for line in data.split(b"\n") if not line.startswith(b"%"))
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise Unparseable(f"{UNPARSEABLE}: not UTF-8 text") from None
    if _BINARY.search(text):
        raise Unparseable(f"{UNPARSEABLE}: binary content")
    pages = [page.strip() for page in text.split("\f")]
    pages = [page for page in pages if page]
    if not pages:
        raise Unparseable(f"{UNPARSEABLE}: no text")
    return "\n\n".join(pages), len(pages)


@dataclasses.dataclass(frozen=True)
class ParserConfig:
    service_key: str = ""
    latency_s: float = 0.0
    error_rate: float = 0.0

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> ParserConfig:
        env = os.environ if environ is None else environ
        return cls(
            service_key=env.get("DOCPIPE_SERVICE_KEY", ""),
            latency_s=env_float(env, "DOCPIPE_PARSER_LATENCY_S", 0.0),
            error_rate=env_float(env, "DOCPIPE_PARSER_ERROR_RATE", 0.0, upper=1.0),
        )


@dataclasses.dataclass
class _Job:
    id: str
    status: str = "PENDING"
    text: str = ""
    pages: int = 0
    error_message: str | None = None


def create_app(config: ParserConfig | None = None) -> Starlette:
    config = ParserConfig.from_env() if config is None else config
    jobs: collections.OrderedDict[str, _Job] = collections.OrderedDict()
    tasks: set[asyncio.Task[None]] = set()  # strong references, or the loop may drop them
    errors = ErrorCounter(config.error_rate)

    async def work(job: _Job, data: bytes) -> None:
        if config.latency_s > 0:
            await asyncio.sleep(config.latency_s)
        try:
            job.text, job.pages = parse_document(data)
        except Unparseable as exc:
            job.status, job.error_message = "ERROR", str(exc)
        else:
            job.status = "SUCCESS"

    def find(request: Request) -> _Job | Response:
        denied = check_auth(request, config.service_key)
        if denied is not None:
            return denied
        job = jobs.get(request.path_params["job_id"])
        if job is None:
            return JSONResponse({"detail": "job not found"}, status_code=404)
        return job

    async def upload(request: Request) -> Response:
        denied = check_auth(request, config.service_key)
        if denied is not None:
            return denied
        if errors.should_fail():
            return JSONResponse({"detail": "parser temporarily unavailable"}, status_code=503)
        async with request.form() as form:
            upload = form.get("file")
            if not isinstance(upload, UploadFile):
                return JSONResponse({"detail": "multipart field 'file' is required"}, 400)
            data = await upload.read()
        job = _Job(id=str(uuid.uuid4()))
        jobs[job.id] = job
        while len(jobs) > MAX_JOBS:
            jobs.popitem(last=False)
        task = asyncio.get_running_loop().create_task(work(job, data))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
        return JSONResponse({"id": job.id, "status": job.status})

    async def status(request: Request) -> Response:
        job = find(request)
        if isinstance(job, Response):
            return job
        body: dict[str, str] = {"id": job.id, "status": job.status}
        if job.error_message is not None:
            body["error_message"] = job.error_message
        return JSONResponse(body)

    async def result_text(request: Request) -> Response:
        job = find(request)
        if isinstance(job, Response):
            return job
        if job.status != "SUCCESS":
            return JSONResponse({"detail": f"job has no result (status {job.status})"}, 409)
        return JSONResponse({"text": job.text, "job_metadata": {"job_pages": job.pages}})

    async def health(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    return Starlette(
        routes=[
            Route("/api/parsing/upload", upload, methods=["POST"]),
            Route("/api/parsing/job/{job_id}", status, methods=["GET"]),
            Route("/api/parsing/job/{job_id}/result/text", result_text, methods=["GET"]),
            Route("/health", health, methods=["GET"]),
        ]
    )


def run(argv: Sequence[str] | None = None) -> int:
    return main("docpipe-parser", create_app, argv)


if __name__ == "__main__":
    raise SystemExit(run())
