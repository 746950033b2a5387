"""prodval-gate --deploy against the real docpipe: the gate deploys, validates, checks the data.

One docpipe deployment (own home, free ports) for the module, with documents uploaded through
its API before each run. The gate runs the real prerequisites, the data snapshot (read with the
read-only ``docpipe_monitor`` role), the real ``docpipe deploy`` / ``docpipe rollback``, two
suite modules (health, security headers: quick), and the data checks. A release that loses
and alters documents rows (the ``lose_rows`` and ``corrupt_rows`` faults) passes those checks:
only the data check catches it, and a rollback does not bring the rows back (exit 2, the
differences named); a clean release whose deploy uploads two documents and erases one (audited)
passes with them accounted for, as added and erased; a SIGTERM during the deploy lets it finish,
then rolls back (exit 1); a restore that fails is exit 2, reported.
"""

from __future__ import annotations

import json
import shlex
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from docpipe.control import run_docpipe

from .gate_harness import ROOT, RunningGate, local_gate_argv, run_gate

pytestmark = pytest.mark.xdist_group("gate-deploy")  # one deployment, tests in order

CHECKS = [
    str(ROOT / "suites/application/test_health.py"),
    str(ROOT / "suites/security/test_headers.py"),
]
UPLOAD = """
import json, ssl, sys, uuid
from pathlib import Path
import httpx
home = Path(sys.argv[1])
state = json.loads((home / "state.json").read_text())
key = json.loads((home / "credentials.json").read_text())["api_keys"]["operator"]
context = ssl.create_default_context(cafile=state["ca_file"])
with httpx.Client(base_url=state["urls"]["api"], verify=context, timeout=10) as client:
    for _ in range(int(sys.argv[2])):
        answer = client.post(
            "/documents",
            content=f"gate deploy test {uuid.uuid4()}".encode() * 10,
            headers={"X-API-Key": key, "Content-Type": "text/plain",
                     "X-Subject-Id": "gate-deploy-test", "X-Filename": "note.txt"},
        )
        answer.raise_for_status()
        print(answer.json()["id"])
    for erased in sys.argv[3:]:  # erased on purpose, as a data subject's request would
        client.delete(f"/documents/{erased}", headers={"X-API-Key": key}).raise_for_status()
"""


class Platform:
    def __init__(self, base: Path) -> None:
        self.base = base
        self.home = base / "home"
        self.config = base / "prodval.yaml"
        self.uploader = base / "upload.py"
        self.uploader.write_text(UPLOAD)

    def docpipe(self, *args: str) -> str:
        return shlex.join([sys.executable, "-m", "docpipe", "--home", str(self.home), *args])

    def upload_command(self, count: int, *erase: str) -> str:
        """Upload ``count`` documents, then erase the documents ``erase`` through the API."""
        return shlex.join([sys.executable, str(self.uploader), str(self.home), str(count), *erase])

    def upload(self, count: int) -> list[str]:
        done = subprocess.run(
            shlex.split(self.upload_command(count)), capture_output=True, text=True, check=False
        )
        assert done.returncode == 0, done.stderr
        return done.stdout.split()

    def state(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads((self.home / "state.json").read_text())
        return data

    def gate(self, name: str, *args: str) -> tuple[subprocess.CompletedProcess[str], Any]:
        cwd, argv = self.gate_argv(name, *args)
        result = run_gate(cwd, argv)
        return result, self.record(cwd)

    def record(self, cwd: Path) -> Any:
        [path] = sorted((cwd / "reports" / "gate").glob("*.json"))
        return json.loads(path.read_text())

    def gate_argv(
        self, name: str, *args: str, config: Path | None = None
    ) -> tuple[Path, list[str]]:
        cwd = self.base / name
        cwd.mkdir()
        rollback = self.docpipe("rollback")
        return cwd, local_gate_argv(config or self.config, rollback, CHECKS, *args)


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    platform = Platform(tmp_path_factory.mktemp("gate-deploy"))
    up = run_docpipe(platform.home, "up", "--ports", "auto")
    assert up.returncode == 0, up.stderr
    try:
        config = run_docpipe(platform.home, "prodval-config")
        assert config.returncode == 0, config.stderr
        # docpipe's prodval.yaml declares the tables a release must never lose.
        assert "integrity" in yaml.safe_load(config.stdout)["environments"]["local"]
        platform.config.write_text(config.stdout)
        yield platform
    finally:
        run_docpipe(platform.home, "down")


def output(result: subprocess.CompletedProcess[str]) -> str:
    return result.stdout[-3000:] + result.stderr[-4000:]


def test_a_release_that_loses_data_is_rolled_back_and_the_loss_named_exit_2(
    platform: Platform,
) -> None:
    platform.upload(10)
    deploy = platform.docpipe(
        "deploy", "--release", "1", "--fault", "lose_rows=0.2", "--fault", "corrupt_rows=0.1"
    )
    result, record = platform.gate("lossy", "--deploy", deploy)
    assert result.returncode == 2, output(result)
    assert record["decision"] == "data_lost" and record["exit_code"] == 2
    assert record["suites"]["pytest_exit_code"] == 0  # the checks alone would have passed it
    assert record["readiness"]["passed"] is True
    assert record["deployment"]["deploy"]["succeeded"] is True
    assert record["deployment"]["backup"] is None and record["deployment"]["restore"] is None
    integrity = record["integrity"]
    snapshot = integrity["snapshot"]["tables"]
    assert snapshot["documents"]["rows"] >= 10 and snapshot["tenants"]["rows"] == 2
    for when in ("after_release", "after_rollback"):
        check = integrity[when]
        assert check["matched"] is False, check
        documents = check["tables"]["documents"]
        rows = snapshot["documents"]["rows"]
        assert (documents["missing"], documents["changed"]) == (round(rows * 0.2), 1)
        assert documents["rows_after"] == rows - documents["missing"]
        assert documents["checksum_after"] != documents["checksum_before"]
        assert len(documents["examples"]["missing"]) == documents["missing"]
        assert check["tables"]["tenants"]["matched"] is True
        [line] = check["differences"]
        assert line.startswith(f"documents: {documents['missing']} missing (")
    assert record["rollback"]["succeeded"] is True
    assert record["verification"]["passed"] is True
    assert "the data differs from the snapshot: documents: " in record["reason"]
    assert platform.state()["history"][-1]["kind"] == "rollback"
    assert "data after_rollback: documents:" in result.stderr


def test_a_clean_release_passes_with_the_documents_added_and_erased_in_the_window_accounted_for(
    platform: Platform,
) -> None:
    erased = platform.upload(3)[0]
    # During the window, two documents are uploaded and one is erased on purpose (audited).
    upload = platform.upload_command(2, erased)
    deploy = f"{platform.docpipe('deploy', '--release', '1')} && {upload}"
    result, record = platform.gate("clean", "--deploy", deploy, "--backup", "true")
    assert result.returncode == 0, output(result)
    assert record["decision"] == "passed"
    assert record["reason"] == "all checks passed; the data matched the snapshot"
    after = record["integrity"]["after_release"]
    assert after["matched"] is True and after["differences"] == []
    documents = after["tables"]["documents"]
    assert documents["added"] == 2 and documents["missing"] == documents["changed"] == 0
    assert documents["erased"] == 1 and documents["examples"] == {"erased": [erased]}
    assert documents["rows_after"] == documents["rows_before"] + 2 - 1
    assert (
        "integrity: the data matched the snapshot (documents: 2 added, 1 erased)" in result.stderr
    )
    assert record["integrity"]["after_rollback"] == {"ran": False}
    assert record["deployment"]["backup"]["succeeded"] is True
    assert record["rollback"] == {"command": platform.docpipe("rollback"), "ran": False}
    assert set(record["durations_s"]) >= {"readiness", "snapshot", "deploy", "integrity"}
    assert platform.state()["history"][-1]["kind"] == "deploy"


def test_a_signal_during_the_deploy_lets_it_finish_then_rolls_the_release_back(
    platform: Platform,
) -> None:
    control = platform.base / "signal-control"
    control.mkdir()
    reached, release = control / "deploy-reached", control / "release"
    # The deploy holds once the release is live until the test lets it go (bounded).
    hold = (
        f"touch {shlex.quote(str(reached))}; for _ in $(seq 600); do "
        f"[ -e {shlex.quote(str(release))} ] && break; sleep 0.05; done"
    )
    deploy = f"{platform.docpipe('deploy', '--release', '1')} && {hold}"
    revision = platform.state()["revision"]
    cwd, argv = platform.gate_argv("signal-deploy", "--deploy", deploy)
    with RunningGate(cwd, argv) as gate:
        try:
            gate.wait_file(reached, seconds=120)
            gate.process.send_signal(signal.SIGTERM)
            gate.wait_line("got SIGTERM during the deploy: letting it finish")
            assert gate.process.poll() is None  # the deploy was not cut short
        finally:
            release.touch()
        code = gate.finish(seconds=240)
    record = platform.record(cwd)
    assert record["deployment"]["deploy"]["succeeded"] is True, gate.output
    assert "interrupted by SIGTERM while the release was deployed" in record["reason"]
    assert record["suites"] is None  # never run on a release deployed under a signal
    assert record["rollback"]["succeeded"] is True
    assert (code, record["exit_code"], record["decision"]) == (1, 1, "rolled_back")
    assert "rolled back and verified; the data matched the snapshot" in record["reason"]
    history = platform.state()["history"]
    assert [entry["kind"] for entry in history[-2:]] == ["deploy", "rollback"]
    assert platform.state()["revision"] == revision + 2


def test_a_restore_that_fails_is_exit_2_and_reported(platform: Platform) -> None:
    platform.upload(2)
    deploy = platform.docpipe("deploy", "--release", "1", "--fault", "lose_rows=0.5")
    restore = f"echo 'restoring from backup {uuid.uuid4()}'; echo 'pg_restore: failed' >&2; exit 7"
    result, record = platform.gate("restore-fails", "--deploy", deploy, "--restore", restore)
    assert result.returncode == 2, output(result)
    assert record["decision"] == "restore_failed"
    assert "rolled back, but the restore failed (exit 7)" in record["reason"]
    restored = record["deployment"]["restore"]
    assert restored["exit_code"] == 7 and restored["succeeded"] is False
    assert "pg_restore: failed" in restored["output_tail"]
    assert record["verification"] == {
        "skipped": "the restore failed; the restored state cannot be verified"
    }
    assert record["integrity"]["after_release"]["matched"] is False
    assert record["integrity"]["after_rollback"] == {"ran": False}
    assert "restore output (last lines, redacted):" in result.stderr


def test_without_integrity_tables_a_deployment_run_deploys_nothing(platform: Platform) -> None:
    document = yaml.safe_load(platform.config.read_text())
    del document["environments"]["local"]["integrity"]
    bare = platform.base / "bare.yaml"
    bare.write_text(yaml.safe_dump(document, sort_keys=False))
    revision = platform.state()["revision"]
    deploy = platform.docpipe("deploy", "--release", "1")
    cwd, argv = platform.gate_argv("bare", "--deploy", deploy, config=bare)
    result = run_gate(cwd, argv)
    assert result.returncode == 3, output(result)
    assert "declare environments.local.integrity.tables" in result.stderr
    assert platform.state()["revision"] == revision
