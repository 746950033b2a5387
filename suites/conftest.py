"""Shared fixtures of the validation suites: suite parameters and synthetic documents.

Everything here is built on the plugin's public fixtures (``target``, ``api``, ``api_as``,
``baseline``), as a user's own suites would be. Synthetic documents are created through the
API and always deleted at teardown, also when the check fails midway.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from ._support import SYNTHETIC_SUBJECT_PREFIX, AwaitState, erase, wait_for_state


@dataclasses.dataclass
class SyntheticDocuments:
    """Creates synthetic documents and remembers them so that teardown can erase them."""

    uploader: httpx.Client
    eraser: httpx.Client
    ids: list[str] = dataclasses.field(default_factory=list)
    subject: str = dataclasses.field(
        default_factory=lambda: f"{SYNTHETIC_SUBJECT_PREFIX}{uuid.uuid4().hex[:12]}"
    )

    def upload(
        self,
        content: bytes | None = None,
        *,
        content_type: str = "text/plain",
        client: httpx.Client | None = None,
    ) -> httpx.Response:
        """Upload (unique content unless given); the response is returned unchecked."""
        if content is None:
            content = f"prodval synthetic document {uuid.uuid4()}\n".encode() * 20
        response = (client or self.uploader).post(
            "/documents",
            content=content,
            headers={
                "Content-Type": content_type,
                "X-Subject-Id": self.subject,
                "X-Filename": "prodval-synthetic.txt",
            },
        )
        if response.status_code in (200, 201):
            document_id = response.json()["id"]
            if document_id not in self.ids:
                self.ids.append(document_id)
        return response

    def erase_all(self) -> list[str]:
        """Delete every document made; returns the ids that could not be deleted."""
        return [i for i in self.ids if erase(self.eraser, i) not in (204, 404)]


@pytest.fixture(scope="session")
def params(target: Any) -> dict[str, Any]:
    """The environment's suite parameters (``params:`` in prodval.yaml)."""
    return dict(target.params)


@pytest.fixture
def synthetic(api_as: Callable[[str], httpx.Client]) -> Iterator[SyntheticDocuments]:
    documents = SyntheticDocuments(uploader=api_as("operator"), eraser=api_as("operator"))
    yield documents
    left = documents.erase_all()
    if left:
        pytest.fail(f"synthetic documents could not be erased: {', '.join(left)}")


@pytest.fixture
def await_state(target: Any) -> AwaitState:
    """``await_state(synthetic, id, states)``: poll until one of ``states``, within the SLO."""

    def wait(synthetic: Any, document_id: str, states: set[str]) -> tuple[dict[str, Any], float]:
        return wait_for_state(
            synthetic.uploader, document_id, states, float(target.slo.worker_seconds)
        )

    return wait
