"""Fixtures of the application suite: one readiness report and one synthetic document.

``/ready`` is read once per session: the health, worker and dependency checks all judge the
same report, so they agree with each other. The synthetic document is uploaded once, processed
to completion and shared by every check that reads document routes; it is erased at the end of
the session, also when a check fails.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from pytest_prodval import TargetEnv

from .._support import SYNTHETIC_SUBJECT_PREFIX, erase, wait_for_state

TERMINAL_STATES = {"completed", "failed"}


@dataclasses.dataclass(frozen=True)
class ReadyReport:
    """What ``GET /ready`` answered: status code and body (``{}`` when it was not JSON)."""

    status_code: int
    body: dict[str, Any]

    @property
    def components(self) -> dict[str, dict[str, Any]]:
        components = self.body.get("components")
        return components if isinstance(components, dict) else {}


@dataclasses.dataclass(frozen=True)
class CompletedDocument:
    """A synthetic document that went through the pipeline (or failed trying)."""

    id: str
    subject: str
    content: bytes
    content_type: str
    document: dict[str, Any]  # GET /documents/{id} once it reached a terminal state


def json_or_empty(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


@pytest.fixture(scope="session")
def ready_report(api: httpx.Client) -> ReadyReport:
    """``GET /ready`` once per session (answers 503 with the same body when not ready)."""
    response = api.get("/ready")
    return ReadyReport(response.status_code, json_or_empty(response))


@pytest.fixture(scope="session")
def completed_document(
    api_as: Callable[[str], httpx.Client], target: TargetEnv
) -> Iterator[CompletedDocument]:
    """Upload one synthetic document, wait for a terminal state, erase it at session end.

    Waits at most ``slo.worker_seconds``. Only checks marked ``synthetic`` use it.
    """
    operator = api_as("operator")
    subject = f"{SYNTHETIC_SUBJECT_PREFIX}{uuid.uuid4().hex[:12]}"
    content = f"prodval synthetic document {uuid.uuid4()}\n".encode() * 20
    content_type = "text/plain"
    response = operator.post(
        "/documents",
        content=content,
        headers={
            "Content-Type": content_type,
            "X-Subject-Id": subject,
            "X-Filename": "prodval-synthetic.txt",
        },
    )
    if response.status_code not in (200, 201):
        pytest.fail(
            f"synthetic upload: POST /documents answered {response.status_code} "
            f"(expected 201): {response.text[:200]}"
        )
    document_id = str(response.json()["id"])
    try:
        document, _ = wait_for_state(
            operator, document_id, TERMINAL_STATES, float(target.slo.worker_seconds)
        )
        yield CompletedDocument(document_id, subject, content, content_type, document)
    finally:
        status = erase(operator, document_id)
        if status not in (204, 404):
            pytest.fail(
                f"synthetic document {document_id} could not be erased: DELETE last answered "
                f"{status or 'no response'}"
            )
