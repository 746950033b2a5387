"""docpipe: a compact, runnable reference of the document-processing platform.

The embedded default target of pytest-prodval, and the place where tests switch on real
regressions (``docpipe.faults``) to prove that the validation suites catch them.
"""

from __future__ import annotations

__version__ = "0.1.0"

# Each release expects this database schema version; deploy migrates up or down to it.
RELEASES: dict[str, int] = {"1": 2, "2": 3}
DEFAULT_RELEASE = "1"

__all__ = ["DEFAULT_RELEASE", "RELEASES", "__version__"]
