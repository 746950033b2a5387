"""The run-level files of an Allure results directory, written once, by the controller.

``environment.properties`` (what was validated against what), ``executor.json`` (which CI build
ran it), ``categories.json`` and ``allurerc.json`` (see ``categories.py``). Every value passes
through the run's ``Redactor``; URLs also lose any ``user:password@``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import __version__
from ..baseline.store import atomic_write_text
from .categories import allure2_categories, allure3_config

if TYPE_CHECKING:
    from ..session import ProdvalSession

__all__ = ["environment_properties", "executor_info", "write_run_files"]


def environment_properties(session: ProdvalSession) -> dict[str, str]:
    """What a reviewer needs to know about the run, as Allure's environment widget shows it."""
    env, redactor = session.env, session.redactor
    provenance = session.baseline.provenance
    properties = {
        "environment": env.name,
        "protected": "yes" if env.protected else "no",
        "target.url": redactor.redact_url(env.api.base_url),
        "target.release": session.target_version or "unknown",
        "baseline.file": session.baseline_display,
        "baseline.mode": "record" if session.options.record else "compare",
        "baseline.provenance": provenance.describe() if provenance else "none",
        "prodval.version": __version__,
    }
    return {key: redactor.redact(value) for key, value in properties.items()}


def executor_info(environ: Mapping[str, str], report_name: str) -> dict[str, Any]:
    """``executor.json``: the CI build from GitHub Actions, GitLab CI or Jenkins variables."""
    get = environ.get
    info: dict[str, Any]
    if get("GITHUB_ACTIONS") == "true" or get("GITHUB_RUN_ID"):
        server = get("GITHUB_SERVER_URL", "https://github.com")
        repository = get("GITHUB_REPOSITORY", "")
        number = get("GITHUB_RUN_NUMBER", "")
        info = {
            "name": "GitHub Actions",
            "type": "github",
            "url": f"{server}/{repository}" if repository else server,
            "buildOrder": number,
            "buildName": f"{get('GITHUB_WORKFLOW', 'workflow')} #{number}",
            "buildUrl": f"{server}/{repository}/actions/runs/{get('GITHUB_RUN_ID', '')}"
            if repository
            else "",
        }
    elif get("GITLAB_CI") or get("CI_PIPELINE_ID"):
        number = get("CI_PIPELINE_IID") or get("CI_PIPELINE_ID", "")
        info = {
            "name": "GitLab CI",
            "type": "gitlab",
            "url": get("CI_PROJECT_URL") or get("CI_SERVER_URL", ""),
            "buildOrder": number,
            "buildName": f"{get('CI_PROJECT_PATH', 'pipeline')} #{number}"
            + (f" {get('CI_JOB_NAME')}" if get("CI_JOB_NAME") else ""),
            "buildUrl": get("CI_JOB_URL") or get("CI_PIPELINE_URL", ""),
        }
    elif get("JENKINS_URL") or get("BUILD_NUMBER"):
        number = get("BUILD_NUMBER", "")
        info = {
            "name": "Jenkins",
            "type": "jenkins",
            "url": get("JENKINS_URL", ""),
            "buildOrder": number,
            "buildName": f"{get('JOB_NAME', 'job')} #{number}",
            "buildUrl": get("BUILD_URL", ""),
        }
    else:
        info = {"name": "local run", "type": "local"}
    info["reportName"] = report_name
    order = info.get("buildOrder")
    if isinstance(order, str):
        if order.isdigit():
            info["buildOrder"] = int(order)
        else:
            del info["buildOrder"]
    return {key: value for key, value in info.items() if value != ""}


def properties_text(properties: Mapping[str, str]) -> str:
    """Java ``.properties`` syntax (what Allure parses), one ``key=value`` a line."""
    return "".join(
        f"{_escape(key, True)}={_escape(value, False)}\n" for key, value in properties.items()
    )


def _escape(text: str, is_key: bool) -> str:
    out = text.replace("\\", "\\\\").replace("\n", "\\n").replace("\r", "\\r").replace("\t", "\\t")
    if is_key:
        for char in "=: ":
            out = out.replace(char, "\\" + char)
    elif out.startswith(" "):
        out = "\\" + out
    return out


def write_run_files(alluredir: Path, session: ProdvalSession) -> list[Path]:
    """Write the run-level files into ``alluredir``; returns their paths."""
    redactor = session.redactor
    report_name = f"prodval: {session.env.name}"
    executor = redactor.redact_obj(executor_info(os.environ, report_name))
    for key in ("url", "buildUrl"):
        if isinstance(executor.get(key), str):
            executor[key] = redactor.redact_url(executor[key])
    alluredir.mkdir(parents=True, exist_ok=True)
    files = {
        "environment.properties": properties_text(environment_properties(session)),
        "executor.json": _json(executor),
        "categories.json": _json(allure2_categories()),
        "allurerc.json": _json(allure3_config(report_name)),
    }
    written = []
    for name, text in files.items():
        path = alluredir / name
        atomic_write_text(path, text)
        written.append(path)
    return written


def _json(data: Any) -> str:
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"
