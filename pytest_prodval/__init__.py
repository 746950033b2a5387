"""pytest-prodval: validate a deployment against a recorded known-good baseline."""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
