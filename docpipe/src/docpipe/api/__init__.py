"""The docpipe HTTP API: uploads, reads, erasure, export, audit, health and metrics."""

from __future__ import annotations

from .app import create_app

__all__ = ["create_app"]
