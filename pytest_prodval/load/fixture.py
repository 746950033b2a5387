"""The ``prodval_load`` fixture: the one way a check puts load on the target.

The fixture owns everything that must not be left to a suite: the environment's ``load:``
profile is capped on protected environments (``safety/load_caps.py``) before any run,
``--load-workers`` comes from the plugin's options, reports go next to the summary file
(``<summary dir>/load/``), and progress lines reach the terminal while Locust runs.
A suite only names its locustfile and what it reads; it cannot pass a profile of its own.

Locust itself runs in a subprocess (``driver.py``); this module imports neither Locust nor,
until a run starts, numpy.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from ..config import TargetEnv
    from ..options import RunOptions
    from ..safety.load_caps import EffectiveProfile
    from .driver import LoadRun

__all__ = ["LoadRunner", "prodval_load", "reports_dir"]

REPORTS_SUBDIR = "load"


def _settings(config: pytest.Config) -> RunOptions:
    """The run's resolved options, as the session holds them."""
    from ..plugin import active_session

    return active_session(config).options


def reports_dir(config: pytest.Config) -> Path:
    """Where load reports go: ``load/`` next to the summary file."""
    return _settings(config).summary_path.parent / REPORTS_SUBDIR


class LoadRunner:
    """``prodval_load(locustfile, label=..., documents=..., read_role=..., write_role=...)``.

    ``profile`` is the capped profile every run of the session uses; ``reports_dir`` is where
    each run's files go (``<label>.html``, ``<label>-samples.jsonl``, ...). With a ``control``
    deployment (``--control-env``) every run puts the same load on both, interleaved, and
    the samples say which side each request went to (``LoadRun.samples.control``).
    """

    def __init__(
        self,
        env: TargetEnv,
        profile: EffectiveProfile,
        reports_dir: Path,
        progress: Callable[[str], None],
        control: TargetEnv | None = None,
    ) -> None:
        self.env = env
        self.profile = profile
        self.reports_dir = reports_dir
        self.control = control
        self._progress = progress

    def __repr__(self) -> str:
        beside = f" beside {self.control.name}" if self.control else ""
        return f"<prodval_load {self.env.name}{beside}: {self.profile.describe()}>"

    def __call__(
        self,
        locustfile: Path,
        *,
        label: str = "load",
        documents: Sequence[str] = (),
        read_role: str | None = None,
        write_role: str | None = None,
        control_documents: Sequence[str] = (),
    ) -> LoadRun:
        """Run ``locustfile`` headless with the session's profile; raises ``LoadError``.

        ``documents`` are the target's to read, ``control_documents`` the control
        deployment's (paired mode)."""
        from ..errors import LoadError
        from .driver import LoadDriver

        if not Path(locustfile).is_file():
            raise LoadError(f"prodval_load: no locustfile at {locustfile}")
        driver = LoadDriver(
            self.env,
            self.profile,
            self.reports_dir,
            progress=self._progress,
            control=self.control,
        )
        return driver.run(
            Path(locustfile),
            label=label,
            documents=documents,
            read_role=read_role,
            write_role=write_role,
            control_documents=control_documents,
        )


def _live(config: pytest.Config) -> Callable[[str], None]:
    """Write a progress line to the terminal now, not into the captured setup section."""
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    capture = config.pluginmanager.get_plugin("capturemanager")

    def write(line: str) -> None:
        if reporter is None:
            return
        if capture is not None:
            with capture.global_and_fixture_disabled():
                reporter.write_line(f"prodval {line}")
        else:
            reporter.write_line(f"prodval {line}")

    return write


@pytest.fixture(scope="session")
def prodval_load(pytestconfig: pytest.Config, target: TargetEnv) -> LoadRunner:
    """Runs a locustfile against the target with its ``load:`` profile, capped when protected."""
    from ..plugin import active_session
    from ..safety.load_caps import effective_profile

    control = active_session(pytestconfig).control
    profile = effective_profile(target, _settings(pytestconfig).load_workers, control)
    return LoadRunner(
        target, profile, reports_dir(pytestconfig), _live(pytestconfig), control=control
    )
