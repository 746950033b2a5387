"""Load and validate ``prodval.yaml``: which environments exist and how to reach them.

The file is read once by :func:`load_config`, which checks the structure of every
environment. :meth:`ProdvalConfig.environment` then hands out one fully resolved environment
(``${VAR}`` substituted, defaults applied, secrets collected). Every problem is reported as a
:class:`ConfigError` whose message is a single line naming the file and the key path.

Modules, each importing only those above it: ``messages`` (texts, ``ConfigError``),
``schema`` (the models), ``yaml_file`` (reading), ``errors`` (one-line validation errors),
``environment`` (merge, ``${VAR}``, secrets), ``loading`` (``load_config``).
"""

from __future__ import annotations

from ..errors import ConfigError
from .environment import ca_file_problem
from .loading import ProdvalConfig, load_config
from .schema import (
    ApiConfig,
    Credential,
    DatabaseConfig,
    LoadProfile,
    SloConfig,
    TargetEnv,
    Timeouts,
    TlsExpectations,
)

__all__ = [
    "ApiConfig",
    "ConfigError",
    "Credential",
    "DatabaseConfig",
    "LoadProfile",
    "ProdvalConfig",
    "SloConfig",
    "TargetEnv",
    "Timeouts",
    "TlsExpectations",
    "ca_file_problem",
    "load_config",
]
