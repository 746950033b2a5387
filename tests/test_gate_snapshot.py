"""``python -m pytest_prodval.gate.snapshot``: a database it cannot read is one line, exit 1.

The reads themselves run against a real docpipe in ``test_gate_deploy.py``; here the child is
run as the gate runs it, against a database port nothing listens on.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import yaml

from .docpipe.api_harness import closed_port_url


def test_a_database_that_refuses_the_connection_is_one_line_naming_it(tmp_path: Path) -> None:
    port = urlsplit(closed_port_url()).port
    config = tmp_path / "prodval.yaml"
    environment = {
        "api": {"base_url": "http://127.0.0.1:9"},
        "database": {"dsn": f"postgresql://prodval:s3cret-pw@127.0.0.1:{port}/docpipe"},
        "integrity": {"tables": {"documents": {"key": "id", "columns": ["sha256"]}}},
    }
    config.write_text(yaml.safe_dump({"version": 1, "environments": {"prod": environment}}))
    summary = tmp_path / "snapshot.json"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest_prodval.gate.snapshot",
            "take",
            "--config",
            str(config),
            "--env",
            "prod",
            "--rows",
            str(tmp_path / "rows.json"),
            "--summary",
            str(summary),
            "--timeout",
            "5",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1, done.stderr
    expected = f"cannot connect to database (127.0.0.1:{port}): connection refused"
    assert done.stderr == f"prodval-gate: data snapshot: {expected}\n"
    assert json.loads(summary.read_text()) == {"error": expected}
    assert "s3cret-pw" not in done.stderr
    assert not (tmp_path / "rows.json").exists()
