"""The plugin's command-line options and their ini twins, defined once in ``OPTIONS``.

Each row of the table gives the option's flags, its ini key (always the option's ``dest``), its
kind and its help; ``add_options`` turns the table into pytest options and ini keys, and
``RunOptions.from_config`` resolves every value in one place. Command-line values default to
``None`` so that the ini key, and then the table's default, decide when the flag is absent.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Literal

import pytest

__all__ = ["INI_ONLY", "OPTIONS", "Option", "RunOptions", "add_options", "option"]

DEFAULT_CONFIG = "prodval.yaml"
DEFAULT_SUMMARY = "reports/prodval-summary.json"
DEFAULT_BASELINE = "baselines/{env}.json"
GROUP = "prodval"

Kind = Literal["text", "path", "flag", "count"]
_BOOL_VALUES = {"1": True, "true": True, "yes": True, "0": False, "false": False, "no": False}


@dataclasses.dataclass(frozen=True)
class Option:
    """One option: ``flags`` on the command line, ``dest`` as its ini key."""

    dest: str
    flags: tuple[str, ...]
    kind: Kind
    help: str
    metavar: str | None = None
    default: str | None = None  # shown in the help; the resolver applies it

    @property
    def spelled(self) -> str:
        """How messages name the option: ``--target-env (ini prodval_target_env)``."""
        return f"{self.flags[0]} (ini {self.dest})"


OPTIONS: tuple[Option, ...] = (
    Option(
        "prodval_target_env",
        ("--target-env",),
        "text",
        "environment from prodval.yaml to validate",
        metavar="NAME",
    ),
    Option(
        "prodval_control_env",
        ("--control-env",),
        "text",
        "environment from prodval.yaml running the known-good release, measured beside the "
        "target at the same time: the performance checks compare with it (paired mode)",
        metavar="NAME",
    ),
    Option(
        "prodval_baseline",
        ("--baseline",),
        "path",
        "baseline file to compare with or record into",
        metavar="PATH",
        default=DEFAULT_BASELINE,
    ),
    Option(
        "prodval_record_baseline",
        ("--record-baseline",),
        "flag",
        "record what the target does into the baseline instead of comparing "
        "(merges; never deletes entries)",
    ),
    Option(
        "prodval_prune",
        ("--prune", "--prodval-prune"),
        "flag",
        "with --record-baseline: also remove entries no check uses any more",
    ),
    Option(
        "prodval_config",
        ("--prodval-config",),
        "path",
        "environment config file",
        metavar="PATH",
        default=f"{DEFAULT_CONFIG} in rootdir",
    ),
    Option(
        "prodval_allow_destructive",
        ("--allow-destructive",),
        "flag",
        "run checks marked destructive on protected environments too "
        "(there, with --prodval-confirm-destructive=NAME)",
    ),
    Option(
        "prodval_confirm_destructive",
        ("--prodval-confirm-destructive",),
        "text",
        "confirm running destructive checks on the protected environment NAME",
        metavar="NAME",
    ),
    Option(
        "prodval_confirm_record",
        ("--prodval-confirm-record",),
        "text",
        "confirm recording a baseline on the protected environment NAME",
        metavar="NAME",
    ),
    Option(
        "prodval_summary",
        ("--prodval-summary",),
        "path",
        "machine-readable summary of every comparison",
        metavar="PATH",
        default=DEFAULT_SUMMARY,
    ),
    Option(
        "prodval_load_workers",
        ("--load-workers",),
        "count",
        "run the load fixture's Locust as a master with N local worker processes",
        metavar="N",
        default="0, one process",
    ),
)
_BY_DEST = {opt.dest: opt for opt in OPTIONS}
# Ini keys with no command-line twin: read by other front ends (the gate's preflight).
INI_ONLY = {
    "prodval_gate_verify": "pytest arguments of prodval-gate's post-rollback verification "
    "(prodval-gate --verify overrides it)",
}


def option(dest: str) -> Option:
    return _BY_DEST[dest]


def add_options(parser: pytest.Parser) -> None:
    group = parser.getgroup(GROUP, "prodval: validate a deployment against its baseline")
    for opt in OPTIONS:
        default = f"; default: {opt.default}" if opt.default else ""
        extra: dict[str, object] = (
            {"action": "store_const", "const": True} if opt.kind == "flag" else {}
        )
        if opt.metavar:
            extra["metavar"] = opt.metavar
        group.addoption(
            *opt.flags,
            dest=opt.dest,
            default=None,
            help=f"{opt.help} (ini: {opt.dest}{default}).",
            **extra,
        )
        ini_kind = " (true/false)" if opt.kind == "flag" else ""
        parser.addini(opt.dest, f"{opt.help}{ini_kind}{default}", default=None)
    for name, help_text in INI_ONLY.items():
        parser.addini(name, help_text, default=None)


@dataclasses.dataclass(frozen=True)
class RunOptions:
    """Every option of one run, resolved from the command line, the ini file and defaults."""

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
    confirm_destructive: str | None = None
    control_env: str | None = None
    baseline_named: bool = False  # --baseline or the ini key, not the default path

    def shown(self, path: Path) -> Path:
        """``path`` as the user would write it: relative to where pytest was started."""
        try:
            return path.relative_to(self.invocation_dir)
        except ValueError:
            return path

    @classmethod
    def from_config(cls, config: pytest.Config) -> RunOptions:
        read = _Reader(config)
        target_env = read.text("prodval_target_env")
        record = read.flag("prodval_record_baseline")
        prune = read.flag("prodval_prune")
        if prune and not record:
            raise pytest.UsageError("--prune only works together with --record-baseline")
        control_env = read.text("prodval_control_env")
        if control_env is not None and control_env == target_env:
            raise pytest.UsageError(
                f"{option('prodval_control_env').spelled} = {control_env!r}: the control must be "
                "another deployment than the target (--target-env)"
            )
        baseline = read.path("prodval_baseline")
        baseline_named = baseline is not None
        if baseline is None and target_env is not None:
            baseline = read.rootdir / DEFAULT_BASELINE.format(env=target_env)
        return cls(
            target_env=target_env,
            baseline_path=baseline,
            record=record,
            prune=prune,
            config_path=read.path("prodval_config") or read.rootdir / DEFAULT_CONFIG,
            allow_destructive=read.flag("prodval_allow_destructive"),
            confirm_record=read.text("prodval_confirm_record"),
            summary_path=read.path("prodval_summary") or read.rootdir / DEFAULT_SUMMARY,
            invocation_dir=read.cwd,
            load_workers=read.count("prodval_load_workers"),
            confirm_destructive=read.text("prodval_confirm_destructive"),
            control_env=control_env,
            baseline_named=baseline_named,
        )


class _Reader:
    """Reads one option: the command line first, then the ini key; None when neither is set."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.rootdir = Path(config.rootpath)
        self.cwd = Path(config.invocation_params.dir)

    def _raw(self, dest: str) -> tuple[object, bool]:
        value = self.config.getoption(dest)
        if value is not None:
            return value, True
        return self.config.getini(dest), False

    def text(self, dest: str) -> str | None:
        value, _ = self._raw(dest)
        if value is None:
            return None
        text = str(value).strip()
        if not text:
            raise pytest.UsageError(f"{option(dest).spelled}: expected a non-empty value")
        return text

    def flag(self, dest: str) -> bool:
        value, from_command_line = self._raw(dest)
        if value is None:
            return False
        if from_command_line:
            return bool(value)
        try:
            return _BOOL_VALUES[str(value).strip().lower()]
        except KeyError:
            raise pytest.UsageError(
                f"ini {dest} = {value!r}: expected one of {', '.join(_BOOL_VALUES)}"
            ) from None

    def count(self, dest: str) -> int:
        text = self.text(dest)
        if text is None:
            return 0
        if not text.isdigit():
            raise pytest.UsageError(
                f"{option(dest).spelled}: expected an integer >= 0, got {text!r}"
            )
        return int(text)

    def path(self, dest: str) -> Path | None:
        # Command-line paths are relative to where pytest was started, ini paths to rootdir,
        # as with pytest's own options.
        value, from_command_line = self._raw(dest)
        if value is None:
            return None
        if not str(value).strip():
            raise pytest.UsageError(f"{option(dest).spelled}: expected a path, got an empty value")
        return (self.cwd if from_command_line else self.rootdir) / Path(str(value))
