"""``python -m docpipe.api --host H --port N [--certfile F --keyfile F]``: serve the API.

Settings come from the environment (``docpipe.settings``). uvicorn handles SIGTERM and SIGINT
gracefully: it stops accepting, lets in-flight requests finish (bounded), then runs the
lifespan shutdown that closes the database pool.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import sys
from collections.abc import Sequence

import uvicorn

from ..settings import ComponentSettings
from .app import create_app

GRACEFUL_SHUTDOWN_S = 10


def build_config(
    settings: ComponentSettings,
    host: str,
    port: int,
    certfile: str | None = None,
    keyfile: str | None = None,
) -> uvicorn.Config:
    if certfile:
        # Serving HTTPS is what makes HSTS meaningful; never send it over plain HTTP.
        settings = dataclasses.replace(settings, tls=True)
    return uvicorn.Config(
        create_app(settings),
        host=host,
        port=port,
        ssl_certfile=certfile,
        ssl_keyfile=keyfile,
        lifespan="on",
        server_header=False,  # no version fingerprint for free
        date_header=True,
        access_log=False,  # request lines would carry document ids; metrics cover traffic
        proxy_headers=False,
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_S,
        log_level="info",
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m docpipe.api", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--certfile")
    parser.add_argument("--keyfile")
    args = parser.parse_args(argv)
    if bool(args.certfile) != bool(args.keyfile):
        parser.error("--certfile and --keyfile go together")
    logging.basicConfig(
        stream=sys.stderr,
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
    )
    config = build_config(
        ComponentSettings.from_env(), args.host, args.port, args.certfile, args.keyfile
    )
    uvicorn.Server(config).run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
