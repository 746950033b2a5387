"""Command-line options and their ini twins, resolved in one place.

Every option defaults to ``None`` on the command line; the ini key carries the real
default, so ``Settings.from_config`` is the only place that decides a value.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

__all__ = ["Settings", "add_options"]

DEFAULT_CONFIG = "prodval.yaml"
DEFAULT_SUMMARY = "reports/prodval-summary.json"
DEFAULT_BASELINE = "baselines/{env}.json"

_BOOL_VALUES = {"1": True, "true": True, "yes": True, "0": False, "false": False, "no": False}


def add_options(parser: pytest.Parser) -> None:
    group = parser.getgroup("prodval", "prodval: validate a deployment against its baseline")
    group.addoption(
        "--target-env",
        dest="prodval_target_env",
        metavar="NAME",
        default=None,
        help="environment from prodval.yaml to validate (ini: prodval_target_env).",
    )
    group.addoption(
        "--baseline",
        dest="prodval_baseline",
        metavar="PATH",
        default=None,
        help="baseline file to compare with or record into "
        f"(ini: prodval_baseline; default: {DEFAULT_BASELINE}).",
    )
    group.addoption(
        "--record-baseline",
        dest="prodval_record_baseline",
        action="store_const",
        const=True,
        default=None,
        help="record what the target does into the baseline instead of comparing "
        "(merges; never deletes entries) (ini: prodval_record_baseline).",
    )
    group.addoption(
        "--prune",
        "--prodval-prune",
        dest="prodval_prune",
        action="store_const",
        const=True,
        default=None,
        help="with --record-baseline: also remove entries no check uses any more "
        "(ini: prodval_prune).",
    )
    group.addoption(
        "--prodval-config",
        dest="prodval_config",
        metavar="PATH",
        default=None,
        help="environment config file "
        f"(ini: prodval_config; default: {DEFAULT_CONFIG} in rootdir).",
    )
    group.addoption(
        "--allow-destructive",
        dest="prodval_allow_destructive",
        action="store_const",
        const=True,
        default=None,
        help="run checks marked destructive on protected environments too "
        "(ini: prodval_allow_destructive).",
    )
    group.addoption(
        "--prodval-confirm-record",
        dest="prodval_confirm_record",
        metavar="NAME",
        default=None,
        help="confirm recording a baseline on the protected environment NAME "
        "(ini: prodval_confirm_record).",
    )
    group.addoption(
        "--prodval-summary",
        dest="prodval_summary",
        metavar="PATH",
        default=None,
        help=f"machine-readable summary of every comparison "
        f"(ini: prodval_summary; default: {DEFAULT_SUMMARY}).",
    )
    group.addoption(
        "--load-workers",
        dest="prodval_load_workers",
        metavar="N",
        default=None,
        help="run the performance suite's Locust as a master with N local worker processes "
        "(ini: prodval_load_workers; default: 0, one process).",
    )
    for name, help_text in [
        ("prodval_target_env", "environment from prodval.yaml to validate"),
        ("prodval_baseline", f"baseline file (default: {DEFAULT_BASELINE})"),
        ("prodval_record_baseline", "record instead of compare (true/false)"),
        ("prodval_prune", "with recording, remove unused baseline entries (true/false)"),
        ("prodval_config", f"environment config file (default: {DEFAULT_CONFIG})"),
        ("prodval_allow_destructive", "run destructive checks on protected environments"),
        ("prodval_confirm_record", "protected environment a recording is confirmed for"),
        ("prodval_summary", f"summary JSON path (default: {DEFAULT_SUMMARY})"),
        ("prodval_load_workers", "Locust worker processes for the performance suite (default 0)"),
    ]:
        parser.addini(name, help_text, default=None)


@dataclasses.dataclass(frozen=True)
class Settings:
    target_env: str | None
    baseline_path: Path | None
    record: bool
    prune: bool
    config_path: Path
    allow_destructive: bool
    confirm_record: str | None
    summary_path: Path
    invocation_dir: Path
    load_workers: int = 0

    def shown(self, path: Path) -> Path:
        """``path`` as the user would write it: relative to where pytest was started."""
        try:
            return path.relative_to(self.invocation_dir)
        except ValueError:
            return path

    @classmethod
    def from_config(cls, config: pytest.Config) -> Settings:
        rootdir = Path(config.rootpath)
        cwd = Path(config.invocation_params.dir)
        target_env = _text(config, "prodval_target_env")
        record = _flag(config, "prodval_record_baseline")
        prune = _flag(config, "prodval_prune")
        if prune and not record:
            raise pytest.UsageError("--prune only works together with --record-baseline")
        baseline = _path(config, "prodval_baseline", cwd, rootdir)
        if baseline is None and target_env is not None:
            baseline = rootdir / DEFAULT_BASELINE.format(env=target_env)
        return cls(
            target_env=target_env,
            baseline_path=baseline,
            record=record,
            prune=prune,
            config_path=_path(config, "prodval_config", cwd, rootdir) or rootdir / DEFAULT_CONFIG,
            allow_destructive=_flag(config, "prodval_allow_destructive"),
            confirm_record=_text(config, "prodval_confirm_record"),
            summary_path=_path(config, "prodval_summary", cwd, rootdir)
            or rootdir / DEFAULT_SUMMARY,
            invocation_dir=cwd,
            load_workers=_count(config, "prodval_load_workers"),
        )


def _text(config: pytest.Config, name: str) -> str | None:
    value = config.getoption(name)
    if value is None:
        value = config.getini(name)
    if value is None:
        return None
    text = str(value).strip()
    if not text:
        raise pytest.UsageError(f"{_spelled(name)}: expected a non-empty value")
    return text


def _flag(config: pytest.Config, name: str) -> bool:
    value = config.getoption(name)
    if value is not None:
        return bool(value)
    raw = config.getini(name)
    if raw is None:
        return False
    try:
        return _BOOL_VALUES[str(raw).strip().lower()]
    except KeyError:
        raise pytest.UsageError(
            f"ini {name} = {raw!r}: expected one of {', '.join(_BOOL_VALUES)}"
        ) from None


def _count(config: pytest.Config, name: str) -> int:
    text = _text(config, name)
    if text is None:
        return 0
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise pytest.UsageError(f"{_spelled(name)}: expected an integer >= 0, got {text!r}")
    return value


def _path(config: pytest.Config, name: str, cwd: Path, rootdir: Path) -> Path | None:
    # Command-line paths are relative to where pytest was started, ini paths to rootdir,
    # as with pytest's own options.
    value = config.getoption(name)
    base = cwd
    if value is None:
        value, base = config.getini(name), rootdir
    if value is None:
        return None
    if not str(value).strip():
        raise pytest.UsageError(f"{_spelled(name)}: expected a path, got an empty value")
    return base / Path(str(value))


_FLAGS = {
    "prodval_target_env": "--target-env",
    "prodval_baseline": "--baseline",
    "prodval_config": "--prodval-config",
    "prodval_confirm_record": "--prodval-confirm-record",
    "prodval_summary": "--prodval-summary",
    "prodval_load_workers": "--load-workers",
}


def _spelled(name: str) -> str:
    return f"{_FLAGS.get(name, name)} (ini {name})"
