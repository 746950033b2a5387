"""The worker's clients for the parser (LlamaParse-shaped) and embedder (OpenAI-shaped) services.

Both speak over HTTP with timeouts and the service bearer key. Failures are classified for the
job queue: 5xx, 408, 429, timeouts and connection errors are ``RetryableError`` (another
attempt may succeed); other 4xx and an ERROR parse job are ``PermanentError``.
"""

from __future__ import annotations

import asyncio
import dataclasses
import re
import time
from typing import Any

import httpx

from .jobs import PermanentError, RetryableError

__all__ = ["CHUNK_CHARS", "EMBEDDING_MODEL", "ParsedDocument", "ServiceClient", "split_text"]

CHUNK_CHARS = 500
EMBED_BATCH = 64  # chunks per embeddings request
EMBEDDING_MODEL = "text-embedding-3-small"
_RETRYABLE_STATUS = frozenset({408, 429})
_POLL_FIRST_S, _POLL_MAX_S = 0.05, 0.5


def split_text(text: str, size: int = CHUNK_CHARS) -> list[str]:
    """Chunks of at most ``size`` characters, broken at whitespace where a word allows."""
    chunks: list[str] = []
    current = ""
    for piece in re.findall(r"\S+\s*", text):
        if len(current) + len(piece.rstrip()) > size and current.strip():
            chunks.append(current.strip())
            current = ""
        while len(piece.rstrip()) > size:  # one word longer than a chunk: cut it
            chunks.append(piece[:size])
            piece = piece[size:]
        current += piece
    if current.strip():
        chunks.append(current.strip())
    return chunks


@dataclasses.dataclass(frozen=True)
class ParsedDocument:
    text: str
    pages: int


class ServiceClient:
    """Parser and embedder calls sharing one connection pool."""

    def __init__(
        self,
        parser_url: str,
        embedder_url: str,
        *,
        service_key: str,
        timeout_s: float,
        parse_deadline_s: float,
    ) -> None:
        self.parser_url = parser_url.rstrip("/")
        self.embedder_url = embedder_url.rstrip("/")
        self.parse_deadline_s = parse_deadline_s
        headers = {"Authorization": f"Bearer {service_key}"} if service_key else {}
        self.http = httpx.AsyncClient(headers=headers, timeout=httpx.Timeout(timeout_s))

    async def aclose(self) -> None:
        await self.http.aclose()

    async def _call(self, service: str, method: str, url: str, **kwargs: Any) -> Any:
        try:
            response = await self.http.request(method, url, **kwargs)
        except httpx.TimeoutException:
            raise RetryableError(f"{service} timed out ({method} {url})") from None
        except httpx.TransportError as exc:
            raise RetryableError(f"{service} unreachable: {exc or type(exc).__name__}") from None
        status = response.status_code
        if status >= 500 or status in _RETRYABLE_STATUS:
            raise RetryableError(f"{service} answered {status}")
        if status >= 400:
            raise PermanentError(f"{service} answered {status}: {response.text[:200]}")
        try:
            return response.json()
        except ValueError:
            raise RetryableError(
                f"{service} answered {status} with a body that is not JSON"
            ) from None

    async def parse(self, filename: str, content_type: str, data: bytes) -> ParsedDocument:
        """Upload, poll the parse job until it ends (bounded), fetch the text."""
        base = f"{self.parser_url}/api/parsing"
        job = await self._call(
            "parser", "POST", f"{base}/upload", files={"file": (filename, data, content_type)}
        )
        job_id = str(job["id"])
        deadline = time.monotonic() + self.parse_deadline_s
        pause = _POLL_FIRST_S
        while True:
            status = await self._call("parser", "GET", f"{base}/job/{job_id}")
            if status["status"] == "SUCCESS":
                break
            if status["status"] == "ERROR":
                raise PermanentError(status.get("error_message") or "parser reported an error")
            if time.monotonic() + pause > deadline:
                raise RetryableError(
                    f"parser job {job_id} not done after {self.parse_deadline_s:g}s"
                )
            await asyncio.sleep(pause)
            pause = min(pause * 2, _POLL_MAX_S)
        result = await self._call("parser", "GET", f"{base}/job/{job_id}/result/text")
        return ParsedDocument(str(result["text"]), int(result["job_metadata"]["job_pages"]))

    async def embed(self, texts: list[str]) -> list[list[float]]:
        """One vector per text, in order; all of one dimension."""
        vectors: list[list[float]] = []
        for start in range(0, len(texts), EMBED_BATCH):
            batch = texts[start : start + EMBED_BATCH]
            body = await self._call(
                "embedder",
                "POST",
                f"{self.embedder_url}/v1/embeddings",
                json={"model": EMBEDDING_MODEL, "input": batch},
            )
            data = sorted(body["data"], key=lambda item: int(item["index"]))
            if len(data) != len(batch):
                raise RetryableError(f"embedder returned {len(data)} vectors for {len(batch)}")
            vectors.extend([float(v) for v in item["embedding"]] for item in data)
        if len({len(v) for v in vectors}) > 1:
            raise RetryableError("embedder returned vectors of different dimensions")
        return vectors
