"""Timing requests in a hand-written check, with a control measured alongside.

``time_requests(api, "GET", "/health")`` sends ``n`` requests one after another and times
each one (connect to last byte of the body, as the check's client sees it). Between two
requests it takes one **control** measurement that no release of the target can change: by
default the time to open a TCP connection to the same host and port (the kernel answers it,
not the service), or a reference request (a static URL on the same host). Request and control
alternate, so both see the same moments of the machine. The result, ``Timings``, carries what
``baseline.distribution`` needs to judge it honestly (docs/statistics.md): the latencies, their
per-time-window medians, the control's samples and how to calibrate with them.

Bounded: ``n`` requests at most (plus a short warm-up), and ``deadline_s`` for the whole
measurement, each request's own deadline cut to what is left. A failed request (an HTTP error
status, or no answer) is counted, not timed: a failure's time says nothing about speed.
"""

from __future__ import annotations

import dataclasses
import math
import socket
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, overload
from urllib.parse import urlsplit

from .errors import TimingError

if TYPE_CHECKING:
    import httpx

__all__ = ["CONTROL_CALIBRATION", "Timings", "time_requests"]

# The TCP-connect control's name, the same as the load runs' (pytest_prodval.CONTROL).
_TCP_CONTROL = "control: tcp connect"
# How the target's windows are corrected by the control (docs/statistics.md, measured by
# benchmarks/user_check.py): a busier machine stretches the request and the control by a
# factor; subtracting the control's shift (0.1-0.4 ms of TCP connect) measured like no control.
CONTROL_CALIBRATION = "ratio"
# Requests per time window when ``window_s`` is not given.
_PER_WINDOW = 10
# At least this many time windows (baseline.distribution judges no fewer than 5).
_MIN_WINDOWS = 5


@dataclasses.dataclass(frozen=True)
class Timings(Sequence[float]):
    """What ``time_requests`` measured: pass it to ``baseline.distribution`` as the samples.

    A sequence of the successful requests' latencies in milliseconds, in the order they were
    made (``ms``); ``started`` their start times (epoch seconds); ``control_ms`` and
    ``control_started`` the control's, named ``control_name`` (None: no control).
    """

    name: str
    ms: tuple[float, ...]
    started: tuple[float, ...]
    control_name: str | None
    control_ms: tuple[float, ...]
    control_started: tuple[float, ...]
    failures: int
    control_failures: int
    window_s: float
    calibration: str = CONTROL_CALIBRATION

    def __len__(self) -> int:
        return len(self.ms)

    @overload
    def __getitem__(self, index: int) -> float: ...
    @overload
    def __getitem__(self, index: slice) -> tuple[float, ...]: ...
    def __getitem__(self, index: int | slice) -> float | tuple[float, ...]:
        return self.ms[index]

    @property
    def control(self) -> list[float] | None:
        """The control's samples (ms), or None when no control was measured."""
        return list(self.control_ms) if self.control_name is not None else None

    @property
    def windows(self) -> list[float]:
        """Median latency of each ``window_s`` of the measurement, in time order.

        Requests close in time share the machine's moment, so they are not independent;
        window medians nearly are. Windows with fewer than 2 requests are left out.
        """
        return _window_medians(self.started, self.ms, self.window_s)

    def median(self) -> float:
        return _median(self.ms)

    def describe(self) -> str:
        """One line: ``GET /health: 200 requests, median 1.2 ms, 20 windows of 0.05 s; ...``."""
        line = (
            f"{self.name}: {len(self.ms)} requests, median {self.median():.3g} ms, "
            f"{len(self.windows)} windows of {self.window_s:.3g} s"
        )
        if self.failures:
            line += f", {self.failures} failed"
        if self.control_name is not None:
            line += f"; {self.control_name} median {_median(self.control_ms):.3g} ms"
        return line


def _median(values: tuple[float, ...] | list[float]) -> float:
    ordered = sorted(values)
    if not ordered:
        return math.nan
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2


def _window_medians(
    started: tuple[float, ...], ms: tuple[float, ...], window_s: float
) -> list[float]:
    if not ms:
        return []
    first = started[0]
    groups: dict[int, list[float]] = {}
    for t, value in zip(started, ms, strict=True):
        groups.setdefault(int((t - first) // window_s), []).append(value)
    return [_median(group) for _, group in sorted(groups.items()) if len(group) >= 2]


def _total_s(client: httpx.Client) -> float | None:
    """The client's total deadline per exchange: the largest per-operation timeout."""
    timeout = client.timeout
    parts = [t for t in (timeout.connect, timeout.read, timeout.write, timeout.pool) if t]
    return max(parts) if parts else None


def _path(client: httpx.Client, url: str) -> str:
    return urlsplit(str(client.build_request("GET", url).url)).path or "/"


def _address(client: httpx.Client, url: str) -> tuple[str, int]:
    """The (ip, port) the request goes to, resolved once: name resolution is not part of
    the control's time."""
    full = client.build_request("GET", url).url
    host, port = full.host, full.port or (443 if full.scheme == "https" else 80)
    try:
        *_, sockaddr = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    except OSError as exc:
        raise TimingError(f"time_requests: cannot resolve {host}:{port}: {exc}") from None
    return str(sockaddr[0]), int(sockaddr[1])


def _positive(label: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise ValueError(f"time_requests: {label} must be a number > 0 s; got {value!r}")


def _count(label: str, value: object, least: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < least:
        raise ValueError(f"time_requests: {label} must be an int >= {least}; got {value!r}")


@dataclasses.dataclass
class _Sampler:
    """One measurement: the request, the control, the deadline, and what they gave."""

    client: httpx.Client
    method: str
    url: str
    request: dict[str, Any]
    ok: Callable[[httpx.Response], bool]
    control: str | None
    n: int
    deadline_s: float
    max_failures: int
    name: str = ""
    control_name: str | None = None
    address: tuple[str, int] | None = None
    total_s: float | None = None
    until: float = 0.0
    done: int = 0
    ms: list[float] = dataclasses.field(default_factory=list)
    started: list[float] = dataclasses.field(default_factory=list)
    control_ms: list[float] = dataclasses.field(default_factory=list)
    control_started: list[float] = dataclasses.field(default_factory=list)
    failures: int = 0
    control_failures: int = 0

    def __post_init__(self) -> None:
        self.name = f"{self.method.upper()} {_path(self.client, self.url)}"
        self.total_s = _total_s(self.client)
        if self.control == "tcp":
            self.address = _address(self.client, self.url)
            self.control_name = _TCP_CONTROL
        elif isinstance(self.control, str) and self.control:
            # Named by host and path, not port: the name must match between the baseline's
            # deployment and the target's for the control to calibrate.
            host = urlsplit(self.control).hostname or ""
            self.control_name = f"control: GET {host}{_path(self.client, self.control)}"
        elif self.control is not None:
            raise ValueError(
                f"time_requests: control must be 'tcp', a URL or None; got {self.control!r}"
            )
        self.until = time.monotonic() + self.deadline_s

    def left(self) -> float:
        """Seconds left of the deadline; a TimingError once it has run out."""
        left = self.until - time.monotonic()
        if left <= 0:
            raise TimingError(
                f"time_requests {self.name}: deadline_s {self.deadline_s:g} s ran out after "
                f"{self.done} of {self.n} requests; raise deadline_s or lower n"
            )
        return left

    def http(self, method: str, url: str, options: dict[str, Any]) -> tuple[float, float, str]:
        """(start epoch s, ms, what went wrong or "") of one request."""
        import httpx  # loaded already: the caller made a client

        left = self.left()
        if self.total_s is None or left < self.total_s:
            options = {**options, "timeout": left}  # the exchange's deadline: what is left
        wall, started = time.time(), time.perf_counter()
        try:
            response = self.client.request(method, url, **options)
        except httpx.HTTPError as exc:
            return wall, 0.0, f"{type(exc).__name__}: {exc}"
        elapsed = (time.perf_counter() - started) * 1000
        good = self.ok(response) if url == self.url else response.is_success
        return wall, elapsed, "" if good else f"answered {response.status_code}"

    def tcp(self) -> tuple[float, float, str]:
        assert self.address is not None
        left = self.left()
        wall, started = time.time(), time.perf_counter()
        try:
            with socket.create_connection(self.address, timeout=min(left, self.total_s or left)):
                elapsed = (time.perf_counter() - started) * 1000
        except OSError as exc:
            return wall, 0.0, f"{type(exc).__name__}: {exc}"
        return wall, elapsed, ""

    def one_request(self) -> None:
        wall, elapsed, problem = self.http(self.method, self.url, self.request)
        if not problem:
            self.ms.append(elapsed)
            self.started.append(wall)
            return
        self.failures += 1
        if self.failures > self.max_failures:
            raise TimingError(
                f"time_requests {self.name}: {self.failures} of {self.done + 1} requests "
                f"failed, more than max_failures {self.max_failures}; last: {problem}"
            )

    def one_control(self) -> None:
        if self.control_name is None:
            return
        if self.address is not None:
            wall, elapsed, problem = self.tcp()
        else:
            wall, elapsed, problem = self.http("GET", str(self.control), {})
        if not problem:
            self.control_ms.append(elapsed)
            self.control_started.append(wall)
            return
        self.control_failures += 1
        if self.control_failures > self.max_failures:
            raise TimingError(
                f"time_requests {self.name}: {self.control_failures} of {self.done + 1} "
                f"measurements of the {self.control_name} failed, more than max_failures "
                f"{self.max_failures}; last: {problem}"
            )

    def run(self, warmup: int) -> None:
        for _ in range(warmup):  # connection set-up, caches: not timed, not judged
            self.http(self.method, self.url, self.request)
            if self.control_name is not None and self.address is None:
                self.http("GET", str(self.control), {})
        for i in range(self.n):
            self.done = i
            # Alternate the order, so that neither always runs right after the other.
            if i % 2:
                self.one_control()
                self.one_request()
            else:
                self.one_request()
                self.one_control()
        self.done = self.n


def time_requests(
    client: httpx.Client,
    method: str,
    url: str,
    *,
    n: int = 200,
    control: str | None = "tcp",
    window_s: float | None = None,
    warmup: int = 5,
    deadline_s: float = 60.0,
    max_failures: int | None = None,
    ok: Callable[[httpx.Response], bool] | None = None,
    **request: Any,
) -> Timings:
    """Time ``n`` requests ``method url`` with ``client``, a control measured between them.

    ``control``: ``"tcp"`` (TCP connect to the request's host and port), a URL or path for a
    reference request made with the same client (``GET``, e.g. a static file on the same
    host), or None. ``window_s``: the time windows' length (default: about 10 requests per
    window, at least 5 windows). Requests follow one another without pauses: a pause lets the
    machine's scheduler put the next request behind other work, which no control sees
    (measured: benchmarks/user_check.py). ``warmup`` requests go first, untimed (connection
    set-up, caches). ``deadline_s`` bounds the whole measurement, each request's deadline cut
    to what is left; running out is a ``TimingError``, and so are more than ``max_failures``
    failed requests (default: a tenth of ``n``). A request succeeded when ``ok(response)``
    (default: a 2xx status). ``request`` goes to ``client.request`` (``headers=``,
    ``params=``, ``json=``, ...).
    """
    _count("n", n, 2 * _MIN_WINDOWS)
    _count("warmup", warmup, 0)
    _positive("deadline_s", deadline_s)
    if window_s is not None:
        _positive("window_s", window_s)
    if max_failures is not None:
        _count("max_failures", max_failures, 0)
    sampler = _Sampler(
        client=client,
        method=method,
        url=url,
        request=request,
        ok=ok or (lambda response: response.is_success),
        control=control,
        n=n,
        deadline_s=deadline_s,
        max_failures=n // 10 if max_failures is None else max_failures,
    )
    sampler.run(warmup)
    if window_s is None:
        # About _PER_WINDOW requests per window, and at least _MIN_WINDOWS windows; a hair
        # longer, so that the last request falls into the last window.
        span = sampler.started[-1] - sampler.started[0] if len(sampler.started) > 1 else 0.0
        count = max(_MIN_WINDOWS, len(sampler.ms) // _PER_WINDOW)
        window_s = span / count * (1 + 1e-9) if span > 0 else 1.0
    return Timings(
        name=sampler.name,
        ms=tuple(sampler.ms),
        started=tuple(sampler.started),
        control_name=sampler.control_name,
        control_ms=tuple(sampler.control_ms),
        control_started=tuple(sampler.control_started),
        failures=sampler.failures,
        control_failures=sampler.control_failures,
        window_s=float(window_s),
    )
