"""The load a run may put on an environment: its ``load:`` profile, capped when protected.

A protected environment (staging, production) gets at most the caps below whatever
``prodval.yaml`` or the command line asks for: a typo in a config must not turn a
validation run into a load test of production. The caps are module constants on purpose,
so that changing them is a reviewed code change, not a flag.
"""

from __future__ import annotations

import dataclasses
import math
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..config import TargetEnv

__all__ = [
    "PROTECTED_MAX_DURATION_S",
    "PROTECTED_MAX_RPS",
    "PROTECTED_MAX_SPAWN_RATE",
    "PROTECTED_MAX_USERS",
    "PROTECTED_MAX_WORKERS",
    "PROTECTED_MIN_UPLOAD_EVERY_S",
    "EffectiveProfile",
    "effective_profile",
]

PROTECTED_MAX_USERS = 20
PROTECTED_MAX_SPAWN_RATE = 5.0
PROTECTED_MAX_DURATION_S = 120.0
PROTECTED_MAX_RPS = 50.0
PROTECTED_MAX_WORKERS = 2
PROTECTED_MIN_UPLOAD_EVERY_S = 10.0
# Requests seen before the error ratio may stop a run: one early 503 is not a trend.
ERROR_MIN_REQUESTS = 50


@dataclasses.dataclass(frozen=True)
class EffectiveProfile:
    """What the driver runs: the configured profile after the caps, and what was capped."""

    users: int
    spawn_rate: float
    duration_s: float
    max_rps: float | None
    workers: int
    upload_every_s: float
    warmup_s: float
    stop_error_ratio: float
    control_url: str | None = None
    error_min_requests: int = ERROR_MIN_REQUESTS
    capped: tuple[str, ...] = ()

    @property
    def spawn_s(self) -> float:
        """Seconds until every user runs."""
        return self.users / self.spawn_rate

    def describe(self) -> str:
        rate = f", at most {self.max_rps:g} req/s" if self.max_rps else ""
        workers = f", {self.workers} worker processes" if self.workers else ""
        text = (
            f"{self.users} users (+{self.spawn_rate:g}/s) for {self.duration_s:g} s{rate}{workers}"
        )
        if self.capped:
            text += f"; capped on a protected environment: {', '.join(self.capped)}"
        return text


def effective_profile(
    env: TargetEnv, workers: int = 0, control: TargetEnv | None = None
) -> EffectiveProfile:
    """The environment's load profile with ``workers`` Locust worker processes (0: none).

    With a ``control`` deployment (paired mode) the same profile goes to both sides, so the
    caps apply when either of them is protected.
    """
    load = env.load
    users, spawn_rate, duration_s = load.users, load.spawn_rate, load.duration_s
    max_rps, upload_every_s = load.max_rps, load.upload_every_s
    capped: list[str] = []
    if env.protected or (control is not None and control.protected):

        def cap(name: str, value: float, limit: float) -> float:
            if value > limit:
                capped.append(f"{name} {value:g} -> {limit:g}")
                return limit
            return value

        users = int(cap("users", users, PROTECTED_MAX_USERS))
        spawn_rate = cap("spawn_rate", spawn_rate, PROTECTED_MAX_SPAWN_RATE)
        duration_s = cap("duration_s", duration_s, PROTECTED_MAX_DURATION_S)
        workers = int(cap("load workers", workers, PROTECTED_MAX_WORKERS))
        max_rps = cap("max_rps", math.inf if max_rps is None else max_rps, PROTECTED_MAX_RPS)
        if 0 < upload_every_s < PROTECTED_MIN_UPLOAD_EVERY_S:  # 0 means no uploads at all
            capped.append(f"upload_every_s {upload_every_s:g} -> {PROTECTED_MIN_UPLOAD_EVERY_S:g}")
            upload_every_s = PROTECTED_MIN_UPLOAD_EVERY_S
    return EffectiveProfile(
        users=users,
        spawn_rate=spawn_rate,
        duration_s=duration_s,
        max_rps=max_rps,
        workers=max(0, workers),
        upload_every_s=upload_every_s,
        warmup_s=min(load.warmup_s, duration_s / 2),
        stop_error_ratio=load.stop_error_ratio,
        control_url=load.control_url,
        capped=tuple(capped),
    )
