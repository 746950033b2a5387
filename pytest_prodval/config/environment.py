"""One environment: ``defaults`` merged in, ``${VAR}`` interpolated, validated, secrets collected.

An unset variable without a default is an error only when that environment is selected.
"""

from __future__ import annotations

import base64
import copy
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import yaml

from ..errors import ConfigError
from ..safety.redaction import MIN_SECRET_LENGTH, SECRET_KEY, Redactor
from .errors import Loc, _Interpolated, _Locator, _more, _validate
from .messages import MSG_BAD_CA_FILE, MSG_BAD_INTERPOLATION, MSG_VAR_NOT_SET
from .schema import TargetEnv, _EnvironmentBlock
from .yaml_file import _Loader


def _resolve_environment(
    path: Path,
    name: str,
    defaults: dict[str, Any],
    block: dict[str, Any],
    environ: Mapping[str, str],
) -> TargetEnv | str:
    """The resolved environment, or the message of a deferred error (a missing variable).

    Errors that do not depend on unset variables are raised now, for every environment.

    How unset variables are handled: each ``${VAR}`` without a default whose variable is unset
    becomes a placeholder string, and its location is remembered. The block is then validated
    as usual, and errors at (or under) a placeholder's location are ignored: they say nothing
    about the file, only about the variable. So a typo'd key or ``timeout: abc`` in production
    fails even a local run, while a missing ``PROD_API_URL`` only fails when production is run.
    """
    data, origins = _merge(defaults, block, ("defaults",), ("environments", name))
    where = _Locator(path, origins)
    interpolated = _interpolate_block(data, environ, where)
    redactor = Redactor(interpolated.from_environ)
    env_block = _validate(_EnvironmentBlock, interpolated.data, where, interpolated, redactor)
    if interpolated.missing:
        loc, var = interpolated.missing[0]
        message = where.message(loc, MSG_VAR_NOT_SET.format(var=var))
        return message + _more(len(interpolated.missing) - 1)
    assert env_block is not None  # _validate returns None only with placeholders
    ca_file = env_block.api.ca_file
    if ca_file is not None:
        if not Path(ca_file).is_absolute():
            ca_file = str(path.absolute().parent / ca_file)
            api = env_block.api.model_copy(update={"ca_file": ca_file})
            env_block = env_block.model_copy(update={"api": api})
    env = TargetEnv(
        name=name,
        secrets=_collect_secrets(env_block, interpolated.from_environ),
        **dict(env_block),
    )
    # Read at session start (TargetEnv.files_problem), not now: the file may be made by then
    # (the embedded target issues its CA as it starts), and the production CA may exist only
    # where production is validated from.
    env._ca_file_key = where.message(("api", "ca_file"), "").removesuffix(": ")
    return env


def ca_file_problem(env: TargetEnv) -> str | None:
    """One line when ``api.ca_file`` cannot verify a server (read as every client reads it)."""
    if env.api.ca_file is None:
        return None
    import ssl  # only when a CA file is configured (httpx imports it later anyway)

    try:
        ssl.create_default_context(cafile=env.api.ca_file)
    except ssl.SSLError as exc:  # an OSError too: first
        problem = f"not PEM CA certificates ({exc.reason or exc})"
    except OSError as exc:
        problem = (exc.strerror or str(exc)).lower()
    else:
        return None
    text = MSG_BAD_CA_FILE.format(path=env.api.ca_file, problem=problem)
    return env.redactor().redact(f"{env._ca_file_key}: {text}")


def _merge(
    defaults: dict[str, Any], block: dict[str, Any], defaults_at: Loc, block_at: Loc
) -> tuple[dict[str, Any], dict[Loc, Loc]]:
    """``defaults`` deep-merged under ``block`` (block wins), and where each value came from.

    The origins map a location in the merged block to its location in the file; a location
    not in the map comes from the same place as its nearest mapped parent.
    """
    origins: dict[Loc, Loc] = {(): block_at}

    def merge(low: dict[str, Any], high: dict[str, Any], at: Loc, low_at: Loc) -> dict[str, Any]:
        merged: dict[str, Any] = {}
        high_at = origins[at]
        for key, value in high.items():
            loc: Loc = (*at, key)
            origins[loc] = (*high_at, key)
            low_value = low.get(key)
            if isinstance(value, dict) and isinstance(low_value, dict):
                merged[key] = merge(low_value, value, loc, (*low_at, key))
            else:
                merged[key] = copy.deepcopy(value)
        for key, value in low.items():
            if key not in high:
                loc = (*at, key)
                origins[loc] = (*low_at, key)
                merged[key] = copy.deepcopy(value)
        return merged

    return merge(defaults, block, (), defaults_at), origins


_PLACEHOLDER = "<unset>"
_TOKEN = re.compile(
    r"\$(?:(?P<dollar>\$)|\{(?P<var>[A-Za-z_][A-Za-z0-9_]*)(?::-(?P<default>[^}]*))?\}|(?P<bad>\{))"
)


def _interpolate_block(
    data: dict[str, Any], environ: Mapping[str, str], where: _Locator
) -> _Interpolated:
    result = _Interpolated(data={})

    def walk(value: Any, loc: Loc) -> Any:
        if isinstance(value, dict):
            return {key: walk(item, (*loc, key)) for key, item in value.items()}
        if isinstance(value, list):
            return [walk(item, (*loc, index)) for index, item in enumerate(value)]
        if isinstance(value, str) and "$" in value:
            return interpolate(value, loc)
        return value

    def interpolate(text: str, loc: Loc) -> Any:
        pieces: list[str] = []
        position = 0
        missing_here = False
        for match in _TOKEN.finditer(text):
            pieces.append(text[position : match.start()])
            position = match.end()
            if match["dollar"]:
                pieces.append("$")
            elif match["bad"]:
                end = text.find("}", match.start())
                bad = text[match.start() : end + 1 if end >= 0 else len(text)]
                raise ConfigError(where.message(loc, MSG_BAD_INTERPOLATION.format(text=bad)))
            elif (env_value := environ.get(match["var"])) is not None and (
                env_value or match["default"] is None  # ":-" also replaces an empty value
            ):
                pieces.append(env_value)
                if len(env_value) >= MIN_SECRET_LENGTH:
                    result.from_environ.add(env_value)
            elif match["default"] is not None:
                pieces.append(match["default"])
            else:
                result.missing.append((loc, match["var"]))
                pieces.append(_PLACEHOLDER)
                missing_here = True
        pieces.append(text[position:])
        substituted = "".join(pieces)
        if missing_here:
            result.placeholders.add(loc)
            return substituted
        whole = _TOKEN.fullmatch(text)
        if whole is not None and whole["var"]:
            # `timeout: ${T:-5}` should mean `timeout: 5`, as if written in the file.
            reparsed = _reparse_scalar(substituted)
            if not isinstance(reparsed, str):
                result.reparsed[loc] = substituted
            return reparsed
        return substituted

    result.data = walk(data, ())
    return result


def _reparse_scalar(text: str) -> Any:
    """``text`` read as a plain YAML scalar, if it is a null, bool or number; else ``text``."""
    try:
        value = yaml.load(text, Loader=_Loader)  # _Loader: `${T:-0b_}` stays text, no crash
    except yaml.YAMLError:
        return text
    return value if value is None or isinstance(value, (bool, int, float)) else text


_SECRET_PARAM = SECRET_KEY


def _secret_values(value: object, secret: bool = False) -> Iterator[str]:
    """Strings under a secret-sounding key, anywhere below ``value``."""
    if isinstance(value, str):
        if secret:
            yield value
    elif isinstance(value, Mapping):
        for key, item in value.items():
            yield from _secret_values(item, secret or bool(_SECRET_PARAM.search(str(key))))
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from _secret_values(item, secret)


def _url_password(url: str) -> str | None:
    try:
        return urlsplit(url).password
    except ValueError:
        return None


def _collect_secrets(env: _EnvironmentBlock, from_environ: set[str]) -> frozenset[str]:
    secrets = set(from_environ)
    for credential in env.credentials.values():
        secrets.update(
            value
            for value in (credential.api_key, credential.bearer_token, credential.password)
            if value is not None
        )
        if credential.username is not None and credential.password is not None:
            # What goes over the wire (and into a printed request) for Basic auth.
            basic = f"{credential.username}:{credential.password}".encode()
            secrets.add(base64.b64encode(basic).decode())
    # params is free-form: values under secret-sounding keys, at any depth, are secrets too;
    # so are api.headers values under such names (Authorization, X-API-Key, ...).
    secrets.update(_secret_values(env.params))
    secrets.update(_secret_values(env.api.headers))
    for url in (env.api.base_url, env.database.dsn if env.database else None):
        password = _url_password(url) if url else None
        if password:
            # The URL holds it percent-encoded; clients send the decoded form.
            secrets.update((password, unquote(password)))
    return frozenset(secret for secret in secrets if len(secret) >= MIN_SECRET_LENGTH)
