"""Loading ``prodval.yaml``: :func:`load_config` checks the whole file, once.

:class:`ProdvalConfig` then hands out each environment as resolved, or raises the error that
makes it unusable.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import ConfigError
from .environment import _resolve_environment
from .errors import _Locator, _validate
from .messages import MSG_TOO_DEEP, MSG_UNKNOWN_ENV
from .schema import TargetEnv, _ConfigFile
from .yaml_file import _read_yaml


@dataclass(frozen=True)
class ProdvalConfig:
    """A loaded ``prodval.yaml``. Environments are resolved by :meth:`environment`."""

    path: Path
    environment_names: tuple[str, ...]
    # name -> the resolved environment, or the message of the error that makes it unusable
    # (a missing variable only matters when that environment is selected).
    _resolved: Mapping[str, TargetEnv | str] = field(repr=False, compare=False)

    def environment(self, name: str) -> TargetEnv:
        resolved = self._resolved.get(name)
        if resolved is None:
            names = ", ".join(sorted(self.environment_names))
            raise ConfigError(f"{self.path}: " + MSG_UNKNOWN_ENV.format(name=name, names=names))
        if isinstance(resolved, str):
            raise ConfigError(resolved)
        return resolved


def load_config(path: Path, environ: Mapping[str, str] | None = None) -> ProdvalConfig:
    """Read ``path`` and check every environment in it; raise :class:`ConfigError` if unusable.

    ``environ`` (default: ``os.environ``) is read now, once, for ``${VAR}`` interpolation.
    """
    path = Path(path)
    try:
        return _load_config(path, environ)
    except RecursionError:
        # Hundreds of nested levels exhaust the stack in the YAML composer or in a later walk.
        raise ConfigError(f"{path}: " + MSG_TOO_DEEP) from None


def _load_config(path: Path, environ: Mapping[str, str] | None) -> ProdvalConfig:
    raw = _read_yaml(path)
    file_model = _validate(_ConfigFile, raw, _Locator(path, {(): ()}))
    assert file_model is not None  # None only when there are placeholders
    env_vars = dict(os.environ if environ is None else environ)
    resolved = {
        name: _resolve_environment(path, name, file_model.defaults, block, env_vars)
        for name, block in file_model.environments.items()
    }
    return ProdvalConfig(
        path=path, environment_names=tuple(file_model.environments), _resolved=resolved
    )
