"""What `slow_api=V` does to the latency a client observes, per judged route.

    python benchmarks/slow_api.py [--requests 400] [--values 0,0.25,0.5]

Brings up two docpipe deployments side by side (blue: clean, release 1; green: the same, then
redeployed with ``slow_api=V`` for each value), seeds a completed document in each, and times
``--requests`` sequential GETs per route on each side, alternating blue and green request by
request over one keep-alive connection per side, so that the machine's drift is shared. Prints
each route's client-observed medians and their ratio green/blue: ``slow_api=0.25`` should read
about 1.25 on every route (issue 14: the fault must mean what it says). V=0 is the A/A line.
Not a test: its figures depend on the machine being quiet (the load average is printed).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from gate_accuracy import docpipe, seed_documents  # noqa: E402

from pytest_prodval.config import load_config  # noqa: E402
from pytest_prodval.target import sync_client  # noqa: E402

ROUTES = ("/health", "/ready", "/documents/{id}", "/documents/{id}/result")
SIDES = ("blue", "green")


def timed(client: object, path: str) -> float:
    started = time.perf_counter()
    response = client.get(path)  # type: ignore[attr-defined]
    elapsed = time.perf_counter() - started
    if response.status_code != 200:
        raise SystemExit(f"GET {path} answered {response.status_code}")
    return elapsed * 1000


def measure(
    envs: dict[str, object], documents: dict[str, str], requests: int
) -> dict[str, dict[str, float]]:
    medians: dict[str, dict[str, float]] = {}
    clients = {side: sync_client(envs[side], "viewer") for side in SIDES}  # type: ignore[arg-type]
    try:
        for route in ROUTES:
            times: dict[str, list[float]] = {side: [] for side in SIDES}
            paths = {side: route.format(id=documents[side]) for side in SIDES}
            for side in SIDES:  # warm the connection and the route
                for _ in range(20):
                    timed(clients[side], paths[side])
            for i in range(requests):
                order = SIDES if i % 2 == 0 else SIDES[::-1]
                for side in order:
                    times[side].append(timed(clients[side], paths[side]))
            medians[route] = {side: statistics.median(times[side]) for side in SIDES}
    finally:
        for client in clients.values():
            client.close()
    return medians


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--values", default="0,0.25,0.5")
    args = parser.parse_args()
    values = [float(v) for v in args.values.split(",")]
    print(f"load average before: {os.getloadavg()[0]:.2f}")
    with tempfile.TemporaryDirectory(prefix="slow-api-") as tmp:
        homes = {side: Path(tmp) / side for side in SIDES}
        try:
            for home in homes.values():
                docpipe(home, "up", "--ports", "auto", "--workers", "1")
            config = Path(tmp) / "prodval.yaml"
            spec = [a for side in SIDES for a in ("--environment", f"{side}={homes[side]}")]
            config.write_text(docpipe(homes["blue"], "prodval-config", *spec))
            loaded = load_config(config)
            envs = {side: loaded.environment(side) for side in SIDES}
            documents = {side: seed_documents(envs[side], count=1)[0] for side in SIDES}
            print(f"{args.requests} alternating requests per route and side; medians in ms")
            print(f"{'slow_api':>8}  {'route':<24} {'blue':>7} {'green':>7} {'ratio':>6}")
            for value in values:
                faults = ["--fault", f"slow_api={value:g}"] if value else []
                docpipe(homes["green"], "deploy", "--release", "1", *faults)
                for route, medians in measure(envs, documents, args.requests).items():
                    ratio = medians["green"] / medians["blue"]
                    print(
                        f"{value:>8g}  {route:<24} {medians['blue']:>7.2f} "
                        f"{medians['green']:>7.2f} {ratio:>6.2f}"
                    )
        finally:
            for home in homes.values():
                docpipe(home, "down")
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
