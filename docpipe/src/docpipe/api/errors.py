"""JSON error responses: one shape, ``{"error": ..., "request_id": ...}``, for every failure.

Handlers raise ``ApiError``; Starlette's own 404/405/400 arrive as ``HTTPException``. Both
become JSON here. Unexpected exceptions (500) are handled in ``middleware``, which sees every
request and owns the request id.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import Scope

__all__ = [
    "REQUEST_ID_KEY",
    "ApiError",
    "error_response",
    "exception_handlers",
    "not_found",
    "request_id",
]

REQUEST_ID_KEY = "docpipe.request_id"

_HTTP_ERRORS = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "too_large",
    415: "unsupported_media_type",
}


class ApiError(Exception):
    """An expected failure with a status code and a stable machine-readable ``error``."""

    def __init__(
        self,
        status: int,
        error: str,
        *,
        headers: Mapping[str, str] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(error)
        self.status = status
        self.error = error
        self.headers = dict(headers or {})
        self.extra = extra


def not_found() -> ApiError:
    # One answer for unknown, malformed and other tenants' ids: nothing to learn by guessing.
    return ApiError(404, "not_found")


def request_id(scope: Scope) -> str:
    return str(scope.get(REQUEST_ID_KEY, ""))


def error_response(
    scope: Scope,
    status: int,
    error: str,
    headers: Mapping[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    body = {"error": error, **extra, "request_id": request_id(scope)}
    return JSONResponse(body, status_code=status, headers=dict(headers or {}))


async def _api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return error_response(request.scope, exc.status, exc.error, exc.headers, **exc.extra)


async def _http_exception(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    error = _HTTP_ERRORS.get(exc.status_code, f"http_{exc.status_code}")
    extra: dict[str, Any] = {}
    if exc.status_code == 400 and exc.detail:
        extra["detail"] = exc.detail
    return error_response(request.scope, exc.status_code, error, exc.headers, **extra)


def exception_handlers() -> dict[Any, Any]:
    return {ApiError: _api_error, HTTPException: _http_exception}
