"""An OpenAI-shaped embeddings stand-in with deterministic vectors.

    POST /v1/embeddings  {"model": str, "input": str | [str, ...], "dimensions"?: int}
      -> {"object": "list", "data": [{"object": "embedding", "index", "embedding"}],
          "model", "usage": {"prompt_tokens", "total_tokens"}}
    GET  /health

A text's vector is derived from its SHA-256 (unit length, ``DOCPIPE_EMBEDDER_DIMENSIONS``
wide, default 64), so the same text always embeds the same. ``DOCPIPE_EMBEDDER_LATENCY_S``
delays every request; ``DOCPIPE_EMBEDDER_ERROR_RATE`` makes that share answer 500,
deterministically; the ``slow_embedder`` fault (``DOCPIPE_FAULTS``) adds its value in seconds
(default 2.5) to every request. ``DOCPIPE_SERVICE_KEY``, when set, is the required bearer token.

    python -m docpipe.stubs.embedder --host 127.0.0.1 --port 8445
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import json
import math
import os
import struct
from collections.abc import Mapping, Sequence
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ..faults import Faults
from . import ErrorCounter, check_auth, env_float, main

__all__ = ["EmbedderConfig", "create_app", "embed"]

MAX_DIMENSIONS = 4096
MAX_INPUTS = 2048  # the real API's per-request limit


def embed(text: str, dimensions: int) -> list[float]:
    """A unit vector determined by the text alone: SHA-256 in counter mode, mapped to [-1, 1]."""
    seed = hashlib.sha256(text.encode()).digest()
    raw: list[float] = []
    block = 0
    while len(raw) < dimensions:
        digest = hashlib.sha256(seed + block.to_bytes(4, "big")).digest()
        raw.extend(v / 2**31 - 1.0 for v in struct.unpack(">8I", digest))
        block += 1
    vector = raw[:dimensions]
    norm = math.sqrt(sum(v * v for v in vector)) or 1.0
    return [v / norm for v in vector]


@dataclasses.dataclass(frozen=True)
class EmbedderConfig:
    service_key: str = ""
    latency_s: float = 0.0
    error_rate: float = 0.0
    dimensions: int = 64
    faults: Faults = dataclasses.field(default_factory=Faults)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> EmbedderConfig:
        env = os.environ if environ is None else environ
        dims = env_float(env, "DOCPIPE_EMBEDDER_DIMENSIONS", 64, upper=MAX_DIMENSIONS)
        if dims < 1 or dims != int(dims):
            raise SystemExit("docpipe: DOCPIPE_EMBEDDER_DIMENSIONS must be a whole number >= 1")
        return cls(
            service_key=env.get("DOCPIPE_SERVICE_KEY", ""),
            latency_s=env_float(env, "DOCPIPE_EMBEDDER_LATENCY_S", 0.0),
            error_rate=env_float(env, "DOCPIPE_EMBEDDER_ERROR_RATE", 0.0, upper=1.0),
            dimensions=int(dims),
            faults=Faults.from_env(env),
        )

    @property
    def delay_s(self) -> float:
        slow = self.faults.value("slow_embedder") if "slow_embedder" in self.faults else 0.0
        return self.latency_s + slow


def _invalid(message: str) -> Response:
    return JSONResponse(
        {"error": {"message": message, "type": "invalid_request_error"}}, status_code=400
    )


def _inputs(body: Any) -> list[str] | str:
    """The request's input texts, or an error message."""
    if not isinstance(body, dict):
        return "the request body must be a JSON object"
    model = body.get("model")
    if not isinstance(model, str) or not model:
        return "'model' must be a non-empty string"
    texts = body.get("input")
    if isinstance(texts, str):
        texts = [texts]
    if not isinstance(texts, list) or not texts or len(texts) > MAX_INPUTS:
        return f"'input' must be a string or a list of 1 to {MAX_INPUTS} strings"
    if not all(isinstance(t, str) and t for t in texts):
        return "every 'input' item must be a non-empty string"
    return texts


def create_app(config: EmbedderConfig | None = None) -> Starlette:
    config = EmbedderConfig.from_env() if config is None else config
    errors = ErrorCounter(config.error_rate)

    async def embeddings(request: Request) -> Response:
        denied = check_auth(request, config.service_key)
        if denied is not None:
            return denied
        if config.delay_s > 0:
            await asyncio.sleep(config.delay_s)
        if errors.should_fail():
            return JSONResponse(
                {"error": {"message": "embedder overloaded", "type": "server_error"}}, 500
            )
        try:
            body = json.loads(await request.body())
        except (json.JSONDecodeError, UnicodeDecodeError):
            return _invalid("the request body must be JSON")
        texts = _inputs(body)
        if isinstance(texts, str):
            return _invalid(texts)
        dimensions = body.get("dimensions", config.dimensions)
        if type(dimensions) is not int or not 1 <= dimensions <= MAX_DIMENSIONS:
            return _invalid(f"'dimensions' must be an integer from 1 to {MAX_DIMENSIONS}")
        tokens = sum(max(1, len(text.split())) for text in texts)
        return JSONResponse(
            {
                "object": "list",
                "data": [
                    {"object": "embedding", "index": i, "embedding": embed(text, dimensions)}
                    for i, text in enumerate(texts)
                ],
                "model": body["model"],
                "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
            }
        )

    async def health(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    return Starlette(
        routes=[
            Route("/v1/embeddings", embeddings, methods=["POST"]),
            Route("/health", health, methods=["GET"]),
        ]
    )


def run(argv: Sequence[str] | None = None) -> int:
    return main("docpipe-embedder", create_app, argv)


if __name__ == "__main__":
    raise SystemExit(run())
