"""pytest-prodval: validate a deployment against a recorded known-good baseline.

The public API: what a check annotates and what a suite needs. Everything else in the package
is private and may change. docs/api.md describes the fixtures that hand these out.

The pytest entry point imports this package in every pytest run of the venv, so only the
error classes (which import nothing) load eagerly; every other name is imported on first
use (PEP 562), and type checkers see them through the ``TYPE_CHECKING`` block.
"""

from __future__ import annotations

import importlib

from .errors import (
    BaselineError,
    BaselineLocked,
    BaselineMismatch,
    CheckTimedOut,
    ConfigError,
    FileWriteError,
    GateUsageError,
    InconsistentFacts,
    LoadError,
    ProdvalError,
    ReadOnlyViolation,
    TargetUnreachable,
    TimingError,
    Undecided,
    UnreadableAnswer,
)

# Not ``typing.TYPE_CHECKING``: importing typing alone would be most of this module's cost
# outside pytest; type checkers treat any name TYPE_CHECKING alike.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from .baseline.assertions import Baseline
    from .baseline.store import Provenance
    from .baseline.verdict import Entry, Status, Verdict
    from .config import (
        ApiConfig,
        Credential,
        DatabaseConfig,
        LoadProfile,
        SloConfig,
        TargetEnv,
        Timeouts,
        TlsExpectations,
    )
    from .exchange import (
        ExchangeTimeout,
        ResponseTooLarge,
        bounded_async_transport,
        bounded_transport,
    )
    from .load.driver import LoadRun
    from .load.fixture import LoadRunner
    from .load.samples import (
        CONTROL,
        Endpoint,
        LoadSamples,
        PairedWindows,
        paired_windows,
        window_medians,
    )
    from .safety.load_caps import EffectiveProfile
    from .timing import Timings, time_requests
    from .unreachable import connection_error

__version__ = "0.1.0"

__all__ = [
    "CONTROL",
    "ApiConfig",
    "Baseline",
    "BaselineError",
    "BaselineLocked",
    "BaselineMismatch",
    "CheckTimedOut",
    "ConfigError",
    "Credential",
    "DatabaseConfig",
    "EffectiveProfile",
    "Endpoint",
    "Entry",
    "ExchangeTimeout",
    "FileWriteError",
    "GateUsageError",
    "InconsistentFacts",
    "LoadError",
    "LoadProfile",
    "LoadRun",
    "LoadRunner",
    "LoadSamples",
    "PairedWindows",
    "ProdvalError",
    "Provenance",
    "ReadOnlyViolation",
    "ResponseTooLarge",
    "SloConfig",
    "Status",
    "TargetEnv",
    "TargetUnreachable",
    "Timeouts",
    "TimingError",
    "Timings",
    "TlsExpectations",
    "Undecided",
    "UnreadableAnswer",
    "Verdict",
    "__version__",
    "bounded_async_transport",
    "bounded_transport",
    "connection_error",
    "paired_windows",
    "time_requests",
    "window_medians",
]

# name -> the private module that defines it (relative to this package).
_LAZY = {
    "Baseline": ".baseline.assertions",
    "Provenance": ".baseline.store",
    "Entry": ".baseline.verdict",
    "Status": ".baseline.verdict",
    "Verdict": ".baseline.verdict",
    "ApiConfig": ".config",
    "Credential": ".config",
    "DatabaseConfig": ".config",
    "LoadProfile": ".config",
    "SloConfig": ".config",
    "TargetEnv": ".config",
    "Timeouts": ".config",
    "TlsExpectations": ".config",
    "LoadRun": ".load.driver",
    "LoadRunner": ".load.fixture",
    "EffectiveProfile": ".safety.load_caps",
    "CONTROL": ".load.samples",
    "LoadSamples": ".load.samples",
    "Endpoint": ".load.samples",
    "PairedWindows": ".load.samples",
    "paired_windows": ".load.samples",
    "window_medians": ".load.samples",
    "connection_error": ".unreachable",
    "Timings": ".timing",
    "time_requests": ".timing",
    "ExchangeTimeout": ".exchange",
    "ResponseTooLarge": ".exchange",
    "bounded_transport": ".exchange",
    "bounded_async_transport": ".exchange",
}


if not TYPE_CHECKING:  # hidden from type checkers: a misspelt name must stay an error there

    def __getattr__(name: str) -> Any:
        module = _LAZY.get(name)
        if module is None:
            raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module, __name__), name)
        globals()[name] = value  # later lookups skip this function
        return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
