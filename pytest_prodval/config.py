"""Load and validate ``prodval.yaml``: which environments exist and how to reach them.

The file is read once by :func:`load_config`, which checks the structure of every
environment. :meth:`ProdvalConfig.environment` then hands out one fully resolved environment
(``${VAR}`` substituted, defaults applied, secrets collected). Every problem is reported as a
:class:`ConfigError` whose message is a single line naming the file and the key path.
"""

from __future__ import annotations

import base64
import copy
import os
import re
import types
import typing
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal, Union
from urllib.parse import unquote, urlsplit

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic.fields import FieldInfo
from pydantic_core import ErrorDetails, PydanticCustomError

from pytest_prodval.redaction import MIN_SECRET_LENGTH, Redactor

__all__ = [
    "ApiConfig",
    "ConfigError",
    "Credential",
    "DatabaseConfig",
    "LoadProfile",
    "ProdvalConfig",
    "SloConfig",
    "TargetEnv",
    "Timeouts",
    "TlsExpectations",
    "load_config",
]

SUPPORTED_VERSION = 1

# -- user-facing messages ---------------------------------------------------------------------
# "{file}: " is prepended to every one of them.
MSG_FILE_NOT_FOUND = "file not found (looked for {location})"
MSG_UNREADABLE = "cannot read the file: {reason}"
MSG_NOT_UTF8 = "cannot read the file: not valid UTF-8 ({reason})"
MSG_INVALID_YAML = "line {line}, column {column}: invalid YAML: {problem}"
MSG_EMPTY = "the file is empty; expected a mapping with an 'environments' key"
MSG_TOP_NOT_MAPPING = "expected a mapping with an 'environments' key at the top level, got {got}"
MSG_UNKNOWN_ENV = "unknown environment {name!r}; expected one of: {names}"
MSG_VAR_NOT_SET = "environment variable {var} is not set (use ${{{var}:-default}} for a default)"
MSG_BAD_INTERPOLATION = (
    "invalid interpolation {text!r}; write ${{NAME}} or ${{NAME:-default}}, or $$ for a literal $"
)
MSG_MORE_PROBLEMS = " (and {count} more problem{s})"
MSG_TOO_DEEP = "invalid YAML: nested too deeply"
MSG_RECURSIVE_ALIAS = "recursive alias *{anchor} (it points into the node that holds it)"
MSG_CANNOT_BUILD = "cannot read {value} as {kind}"

EXPECT_VERSION = f"{SUPPORTED_VERSION} (this prodval reads config version {SUPPORTED_VERSION})"
EXPECT_ENV_NAMES = "environment names made of letters, digits, '_', '.' and '-'"
EXPECT_HTTP_URL = "an http:// or https:// URL with a host"
EXPECT_DSN = "a postgresql:// or postgres:// DSN"
EXPECT_ABSOLUTE_PATH = "a path starting with '/'"

# What a value of each pydantic error type should have been, in our words.
_EXPECTED_BY_ERROR_TYPE: dict[str, str] = {
    "string_type": "a string",
    "int_type": "an integer",
    "int_parsing": "an integer",
    "int_from_float": "an integer",
    "float_type": "a number",
    "float_parsing": "a number",
    "bool_type": "true or false",
    "bool_parsing": "true or false",
    "dict_type": "a mapping",
    "model_type": "a mapping",
    "model_attributes_type": "a mapping",
    "string_too_short": "a non-empty string",
    "too_short": "a non-empty mapping",
    "literal_error": "{expected}",
    "greater_than": "a value > {gt}",
    "greater_than_equal": "a value >= {ge}",
    "less_than": "a value < {lt}",
    "less_than_equal": "a value <= {le}",
}

# Errors on these keys never echo the offending value.
_SECRET_KEYS = frozenset({"password", "api_key", "bearer_token"})
_MAX_SHOWN = 80

Loc = tuple[str | int, ...]
_ModelT = typing.TypeVar("_ModelT", bound=BaseModel)


class ConfigError(Exception):
    """``prodval.yaml`` cannot be used; ``str(error)`` is one line: ``<file>: <key path>: ...``."""

    def __init__(self, message: str) -> None:
        # One line always: these end up in pytest's usage-error output and in CI summaries.
        super().__init__(" ".join(message.split("\n")).replace("\r", " "))


# -- schema -----------------------------------------------------------------------------------


class _Expect(str):
    """Annotated metadata: how to say what a field accepts, e.g. "a number of seconds > 0"."""


def _expected(text: str) -> PydanticCustomError:
    """An error rendered as "expected <text>, got <value>"."""
    return PydanticCustomError("prodval_expected", text)


def _problem(text: str) -> PydanticCustomError:
    """An error rendered verbatim (for problems where echoing the value would not help)."""
    return PydanticCustomError("prodval_problem", text)


Seconds = Annotated[float, Field(gt=0), _Expect("a number of seconds > 0")]
Milliseconds = Annotated[float, Field(gt=0), _Expect("a number of milliseconds > 0")]
Percent = Annotated[float, Field(ge=0, le=100), _Expect("a percentage between 0 and 100")]
Ratio = Annotated[float, Field(ge=0, le=1), _Expect("a ratio between 0 and 1")]
RequestRate = Annotated[float, Field(gt=0), _Expect("a number of requests per second > 0")]
NonEmptyStr = Annotated[str, Field(min_length=1), _Expect("a non-empty string")]

_ENV_NAME = re.compile(r"[A-Za-z0-9_.-]+")
_MODEL_CONFIG = ConfigDict(extra="forbid", strict=True, frozen=True)


class _Model(BaseModel):
    model_config = _MODEL_CONFIG


def _url_password(url: str) -> str | None:
    try:
        return urlsplit(url).password
    except ValueError:
        return None


def _hide_url_password(url: str) -> str:
    return Redactor(()).redact_url(url)


class ApiConfig(_Model):
    base_url: str
    timeout: Seconds = 5.0
    verify_tls: bool = True
    version_path: str | None = None
    version_field: NonEmptyStr = "version"
    api_key_header: NonEmptyStr = "X-API-Key"
    headers: dict[str, str] = Field(default_factory=dict)
    # CA bundle to verify the server with; a relative path is relative to the config file.
    ca_file: NonEmptyStr | None = None

    @field_validator("base_url")
    @classmethod
    def _check_base_url(cls, value: str) -> str:
        try:
            parts = urlsplit(value)
            valid = parts.scheme in ("http", "https") and bool(parts.hostname)
            _ = parts.port  # raises ValueError on a malformed port
        except ValueError:
            valid = False
        if not valid:
            raise _expected(EXPECT_HTTP_URL)
        return value

    @field_validator("version_path")
    @classmethod
    def _check_version_path(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith("/"):
            raise _expected(EXPECT_ABSOLUTE_PATH)
        return value

    def __repr_args__(self) -> Iterator[tuple[str | None, Any]]:
        for name, value in super().__repr_args__():
            yield name, _hide_url_password(value) if name == "base_url" else value


class DatabaseConfig(_Model):
    dsn: str
    timeout: Seconds = 5.0
    pool_min: Annotated[int, Field(ge=0), _Expect("an integer >= 0")] = 1
    pool_max: Annotated[int, Field(ge=1), _Expect("an integer >= 1")] = 4
    statement_timeout_ms: Annotated[int, Field(gt=0), _Expect("an integer > 0")] = 5000

    @field_validator("dsn")
    @classmethod
    def _check_dsn(cls, value: str) -> str:
        try:
            valid = urlsplit(value).scheme in ("postgresql", "postgres")
        except ValueError:
            valid = False
        if not valid:
            raise _expected(EXPECT_DSN)
        return value

    @field_validator("pool_max")
    @classmethod
    def _check_pool_max(cls, value: int, info: ValidationInfo) -> int:
        pool_min = info.data.get("pool_min")  # absent when pool_min itself was invalid
        if pool_min is not None and value < pool_min:
            raise _expected(f"an integer >= pool_min ({pool_min})")
        return value

    def __repr_args__(self) -> Iterator[tuple[str | None, Any]]:
        for name, value in super().__repr_args__():
            yield name, _hide_url_password(value) if name == "dsn" else value


CredentialKind = Literal["api_key", "bearer_token", "basic"]
EXPECT_ONE_CREDENTIAL = (
    "expected exactly one of: api_key, bearer_token, or username + password; got {got}"
)


class Credential(_Model):
    """How one role authenticates: an API key, a bearer token, or username + password."""

    api_key: NonEmptyStr | None = Field(default=None, repr=False)
    bearer_token: NonEmptyStr | None = Field(default=None, repr=False)
    username: NonEmptyStr | None = None
    password: NonEmptyStr | None = Field(default=None, repr=False)

    @model_validator(mode="after")
    def _check_exactly_one_kind(self) -> Credential:
        given = [name for name in type(self).model_fields if getattr(self, name) is not None]
        if given not in (["api_key"], ["bearer_token"], ["username", "password"]):
            got = ("keys " + ", ".join(given)) if given else "no credential keys"
            raise _problem(EXPECT_ONE_CREDENTIAL.format(got=got))
        return self

    @property
    def kind(self) -> CredentialKind:
        if self.api_key is not None:
            return "api_key"
        if self.bearer_token is not None:
            return "bearer_token"
        return "basic"


class SloConfig(_Model):
    api_p95_ms: Milliseconds = 200.0
    db_p95_ms: Milliseconds = 100.0
    worker_seconds: Seconds = 30.0
    external_ms: Milliseconds = 2000.0
    error_ratio: Ratio = 0.01
    min_rps: Annotated[float, Field(ge=0), _Expect("a number of requests per second >= 0")] = 0.0
    cpu_percent: Percent = 70.0
    memory_percent: Percent = 80.0
    disk_percent: Percent = 85.0


class LoadProfile(_Model):
    users: Annotated[int, Field(ge=1), _Expect("an integer >= 1")] = 10
    spawn_rate: Annotated[float, Field(gt=0), _Expect("a number of users per second > 0")] = 5.0
    duration_s: Seconds = 30.0
    max_rps: RequestRate | None = None
    # Seconds between synthetic uploads (one uploading user); 0 turns uploads off.
    upload_every_s: Annotated[float, Field(ge=0), _Expect("a number of seconds >= 0")] = 5.0
    # Samples from the first seconds (connections, caches warming) are not judged.
    warmup_s: Annotated[float, Field(ge=0), _Expect("a number of seconds >= 0")] = 3.0
    # Share of failed requests (after 50) at which the load stops early.
    stop_error_ratio: Ratio = 0.1
    # A static endpoint on the target's hosts that the release does not serve: the control
    # the latency comparison is calibrated with (TCP connect time without it).
    control_url: Annotated[
        str | None, Field(pattern=r"^https?://\S+$"), _Expect("an http:// or https:// URL")
    ] = None


class TlsExpectations(_Model):
    required: bool = False
    min_version: Literal["TLSv1.2", "TLSv1.3"] = "TLSv1.2"
    hsts: bool = False
    cert_min_days: Annotated[int, Field(ge=0), _Expect("a number of days >= 0")] = 14


class Timeouts(_Model):
    check_s: Seconds = 60.0
    run_s: Seconds = 900.0


class _EnvironmentBlock(_Model):
    """One entry under ``environments:``, after ``defaults`` are merged in."""

    protected: bool = False
    description: str = ""
    api: ApiConfig
    database: DatabaseConfig | None = None
    credentials: dict[str, Credential] = Field(default_factory=dict)
    # Validated even when absent, so that it can default to the first role.
    default_role: str | None = Field(default=None, validate_default=True)
    slo: SloConfig = Field(default_factory=SloConfig)
    load: LoadProfile = Field(default_factory=LoadProfile)
    tls: TlsExpectations = Field(default_factory=TlsExpectations)
    timeouts: Timeouts = Field(default_factory=Timeouts)
    # Free-form settings for the suites (expected release, worker count, ...): the suites
    # validate what they read; prodval only requires a mapping with string keys.
    params: dict[str, Any] = Field(default_factory=dict)

    @field_validator("default_role")
    @classmethod
    def _check_default_role(cls, value: str | None, info: ValidationInfo) -> str | None:
        credentials = info.data.get("credentials")  # absent when credentials were invalid
        if credentials is None:
            return value
        if value is None:
            return next(iter(credentials), None)
        if value not in credentials:
            roles = ", ".join(credentials) or "(no credentials are configured)"
            raise _expected(f"one of the roles under credentials: {roles}")
        return value


class TargetEnv(_EnvironmentBlock):
    """A fully resolved environment: what the plugin tests against."""

    name: str
    # Every secret value in this environment (see docs/configuration.md, "Secrets").
    secrets: frozenset[str] = Field(default_factory=frozenset, repr=False)

    def redactor(self) -> Redactor:
        return Redactor(self.secrets)


class _ConfigFile(_Model):
    version: Annotated[int, _Expect(EXPECT_VERSION)] = SUPPORTED_VERSION
    # Both are checked per environment, after merging, by _EnvironmentBlock.
    defaults: dict[str, Any] = Field(default_factory=dict)
    environments: Annotated[
        dict[str, dict[str, Any]], Field(min_length=1), _Expect("a non-empty mapping")
    ]

    @field_validator("version")
    @classmethod
    def _check_version(cls, value: int) -> int:
        if value != SUPPORTED_VERSION:
            raise _expected(EXPECT_VERSION)
        return value

    @field_validator("environments")
    @classmethod
    def _check_names(cls, value: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
        for name in value:
            if not _ENV_NAME.fullmatch(name):
                raise PydanticCustomError(
                    "prodval_problem",
                    f"expected {EXPECT_ENV_NAMES}, got {{name}}",
                    {"name": repr(name)},
                )
        return value


# -- loading ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ProdvalConfig:
    """A loaded ``prodval.yaml``. Environments are resolved by :meth:`environment`."""

    path: Path
    environment_names: tuple[str, ...]
    # name -> the resolved environment, or the message of the error that makes it unusable
    # (a missing variable only matters when that environment is selected).
    _resolved: Mapping[str, TargetEnv | str] = field(repr=False, compare=False)

    def environment(self, name: str) -> TargetEnv:
        resolved = self._resolved.get(name)
        if resolved is None:
            names = ", ".join(sorted(self.environment_names))
            raise ConfigError(f"{self.path}: " + MSG_UNKNOWN_ENV.format(name=name, names=names))
        if isinstance(resolved, str):
            raise ConfigError(resolved)
        return resolved


def load_config(path: Path, environ: Mapping[str, str] | None = None) -> ProdvalConfig:
    """Read ``path`` and check every environment in it; raise :class:`ConfigError` if unusable.

    ``environ`` (default: ``os.environ``) is read now, once, for ``${VAR}`` interpolation.
    """
    path = Path(path)
    try:
        return _load_config(path, environ)
    except RecursionError:
        # Hundreds of nested levels exhaust the stack in the YAML composer or in a later walk.
        raise ConfigError(f"{path}: " + MSG_TOO_DEEP) from None


def _load_config(path: Path, environ: Mapping[str, str] | None) -> ProdvalConfig:
    raw = _read_yaml(path)
    file_model = _validate(_ConfigFile, raw, _Locator(path, {(): ()}))
    assert file_model is not None  # None only when there are placeholders
    env_vars = dict(os.environ if environ is None else environ)
    resolved = {
        name: _resolve_environment(path, name, file_model.defaults, block, env_vars)
        for name, block in file_model.environments.items()
    }
    return ProdvalConfig(
        path=path, environment_names=tuple(file_model.environments), _resolved=resolved
    )


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(
            f"{path}: " + MSG_FILE_NOT_FOUND.format(location=path.absolute())
        ) from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: " + MSG_NOT_UTF8.format(reason=exc.reason)) from None
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise ConfigError(f"{path}: " + MSG_UNREADABLE.format(reason=reason)) from None
    try:
        data = yaml.load(text, Loader=_Loader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        line, column = (mark.line + 1, mark.column + 1) if mark is not None else (0, 0)
        problem = exc.problem or str(exc)
        raise ConfigError(
            f"{path}: " + MSG_INVALID_YAML.format(line=line, column=column, problem=problem)
        ) from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: invalid YAML: {exc}") from None
    if data is None:
        raise ConfigError(f"{path}: " + MSG_EMPTY)
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: " + MSG_TOP_NOT_MAPPING.format(got=_show(data)))
    return data


_YAML_MERGE_TAG = "tag:yaml.org,2002:merge"


class _Loader(yaml.SafeLoader):
    """A SafeLoader that rejects duplicate keys instead of silently keeping the last one.

    It also turns what SafeLoader lets escape as a plain exception or a crash later (values
    Python cannot build, aliases to their own ancestor) into YAML errors with a position.
    """

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._open_anchors: set[str] = set()  # anchors of the nodes being composed

    def compose_node(self, parent: yaml.Node | None, index: int) -> yaml.Node | None:
        event: yaml.NodeEvent = self.peek_event()  # type: ignore[no-untyped-call]
        anchor = event.anchor
        if isinstance(event, yaml.AliasEvent):
            # A cycle: valid YAML, but every walk over the data would recurse forever.
            if anchor in self._open_anchors:
                raise yaml.composer.ComposerError(
                    problem=MSG_RECURSIVE_ALIAS.format(anchor=anchor),
                    # A pure-Python loader: never libyaml's Mark.
                    problem_mark=typing.cast("yaml.Mark | None", event.start_mark),
                )
            return super().compose_node(parent, index)
        if anchor is None:
            return super().compose_node(parent, index)
        self._open_anchors.add(anchor)  # YAML anchors are unique within a document
        try:
            return super().compose_node(parent, index)
        finally:
            self._open_anchors.discard(anchor)

    def construct_object(self, node: yaml.Node, deep: bool = False) -> Any:
        try:
            return super().construct_object(node, deep=deep)
        except yaml.YAMLError:
            raise
        except Exception as exc:
            # SafeLoader's constructors fail with whatever Python raises: `2020-13-45`
            # (ValueError), `!!bool maybe` (KeyError), `!!float ''` (IndexError), `0b_`, an
            # integer of 5000 digits... All of them are a bad value at a known position.
            shown = _show(node.value) if isinstance(node, yaml.ScalarNode) else "the value"
            kind = str(node.tag).rsplit(":", 1)[-1]
            detail = f" ({exc})" if isinstance(exc, ValueError) else ""
            raise yaml.constructor.ConstructorError(
                problem=MSG_CANNOT_BUILD.format(value=shown, kind=kind) + detail,
                problem_mark=node.start_mark,
            ) from None

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            if key_node.tag == _YAML_MERGE_TAG:  # `<<: *anchor` may be overridden: not a duplicate
                continue
            key = self.construct_object(key_node, deep=deep)
            try:
                duplicate = key in seen
                seen.add(key)
            except TypeError:  # unhashable key: let SafeLoader report it
                continue
            if duplicate:
                raise yaml.constructor.ConstructorError(
                    problem=f"duplicate key {key!r}", problem_mark=key_node.start_mark
                )
        return super().construct_mapping(node, deep=deep)


# -- one environment: merge, interpolate, validate --------------------------------------------


@dataclass
class _Interpolated:
    """An environment block after ``${VAR}`` substitution, with what is known about its values."""

    data: dict[str, Any]
    # Whole-scalar substitutions that were re-parsed as YAML (loc -> the substituted text), so
    # that a string field given e.g. a numeric password can get the text back.
    reparsed: dict[Loc, str] = field(default_factory=dict)
    # Values containing a placeholder for an unset variable.
    placeholders: set[Loc] = field(default_factory=set)
    # (loc, variable) for every unset variable without a default, in document order.
    missing: list[tuple[Loc, str]] = field(default_factory=list)
    # Text substituted from the environment: secrets.
    from_environ: set[str] = field(default_factory=set)


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
    if ca_file is not None and not Path(ca_file).is_absolute():
        api = env_block.api.model_copy(update={"ca_file": str(path.absolute().parent / ca_file)})
        env_block = env_block.model_copy(update={"api": api})
    return TargetEnv(
        name=name,
        secrets=_collect_secrets(env_block, interpolated.from_environ),
        **dict(env_block),
    )


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


_SECRET_PARAM = re.compile(
    r"secret|password|passwd|token|api[_-]?key|private|authorization|cookie|credential",
    re.IGNORECASE,
)


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


# -- validation errors as one line ------------------------------------------------------------


@dataclass(frozen=True)
class _Locator:
    """Turns a location inside the validated data into ``<file>: <key path>: <text>``."""

    path: Path
    origins: Mapping[Loc, Loc]

    def file_loc(self, loc: Loc) -> Loc:
        for size in range(len(loc), -1, -1):
            origin = self.origins.get(loc[:size])
            if origin is not None:
                return (*origin, *loc[size:])
        return loc

    def message(self, loc: Loc, text: str) -> str:
        file_loc = self.file_loc(loc)
        if not file_loc:
            return f"{self.path}: {text}"
        return f"{self.path}: {_format_loc(file_loc)}: {text}"


_PLAIN_KEY = re.compile(r"[A-Za-z0-9_-]+")


def _format_loc(loc: Loc) -> str:
    """``environments.local.api.timeout``; keys that would be ambiguous are bracketed."""
    parts: list[str] = []
    for segment in loc:
        if isinstance(segment, str) and _PLAIN_KEY.fullmatch(segment):
            parts.append(("." if parts else "") + segment)
        else:
            parts.append(f"[{segment!r}]")
    return "".join(parts)


def _validate(
    model: type[_ModelT],
    data: dict[str, Any],
    where: _Locator,
    interpolated: _Interpolated | None = None,
    redactor: Redactor | None = None,
) -> _ModelT | None:
    """``model`` validated from ``data``; ConfigError on the first problem.

    Returns None when the only problems are at placeholders for unset variables.
    """
    reparsed = dict(interpolated.reparsed) if interpolated else {}
    placeholders = interpolated.placeholders if interpolated else set()
    while True:
        try:
            return model.model_validate(data)
        except ValidationError as exc:
            errors = exc.errors(include_url=False)
        # A re-parsed `${VAR}` landed in a string field: the variable's text was meant.
        fixes = [e for e in errors if e["type"] == "string_type" and e["loc"] in reparsed]
        if not fixes:
            break
        for error in fixes:
            _set_at(data, error["loc"], reparsed.pop(error["loc"]))
    errors = [e for e in errors if not any(_under(e["loc"], p) for p in placeholders)]
    # A misspelt key also shows up as a missing one; the unknown key is the actual mistake.
    errors.sort(key=lambda e: e["type"] != "extra_forbidden")
    if not errors:
        return None
    loc, text = _describe(errors[0], model, redactor or Redactor(()))
    raise ConfigError(where.message(loc, text) + _more(len(errors) - 1))


def _under(loc: Loc, parent: Loc) -> bool:
    return loc[: len(parent)] == parent


def _set_at(data: Any, loc: Loc, value: Any) -> None:
    for segment in loc[:-1]:
        data = data[segment]
    data[loc[-1]] = value


def _more(count: int) -> str:
    return MSG_MORE_PROBLEMS.format(count=count, s="" if count == 1 else "s") if count else ""


def _describe(error: ErrorDetails, model: type[BaseModel], redactor: Redactor) -> tuple[Loc, str]:
    """Where one pydantic error is (as shown to the user) and what it says, in our words."""
    loc: Loc = tuple(error["loc"])
    kind = error["type"]
    if kind == "missing":
        return loc[:-1], f"missing required key {loc[-1]!r}"
    if kind == "extra_forbidden":
        owner = _model_at(model, loc[:-1])
        known = ", ".join(owner.model_fields) if owner else ""
        return loc, f"unknown key; expected one of: {known}" if known else "unknown key"
    if kind == "prodval_problem":
        return loc, error["msg"]
    if loc and loc[-1] == "[key]":
        return loc[:-1], f"expected a string key (quote it), got {_show(loc[-2])}"
    if kind == "prodval_expected":
        expected = error["msg"]
    else:
        expected = _field_expectation(model, loc) or _generic_expectation(error)
    if loc and loc[-1] in _SECRET_KEYS:
        got = f"a value of type {type(error['input']).__name__} (not shown)"
    else:
        got = redactor.redact(_show(error["input"]))
    return loc, f"expected {expected}, got {got}"


def _generic_expectation(error: ErrorDetails) -> str:
    template = _EXPECTED_BY_ERROR_TYPE.get(error["type"])
    if template is None:
        return error["msg"]
    try:
        return template.format(**error.get("ctx", {}))
    except (KeyError, IndexError):
        return error["msg"]


def _field_expectation(model: type[BaseModel], loc: Loc) -> str | None:
    """The ``_Expect`` wording of the field at ``loc``, if it has one."""
    if not loc:
        return None
    owner = _model_at(model, loc[:-1])
    info: FieldInfo | None = owner.model_fields.get(str(loc[-1])) if owner else None
    if info is None:
        return None
    # `Annotated[...] | None` keeps its metadata inside the annotation, not on the field.
    inner = _unwrap_optional(info.annotation)
    nested = inner.__metadata__ if typing.get_origin(inner) is Annotated else ()
    return next((str(m) for m in (*info.metadata, *nested) if isinstance(m, _Expect)), None)


def _model_at(model: type[BaseModel], loc: Loc) -> type[BaseModel] | None:
    """The model class whose fields live at ``loc`` (through nested models and dicts)."""
    current: Any = model
    for segment in loc:
        current = _unwrap_optional(current)
        if isinstance(current, type) and issubclass(current, BaseModel):
            info = current.model_fields.get(str(segment))
            if info is None:
                return None
            current = info.annotation
        elif typing.get_origin(current) is dict:
            current = typing.get_args(current)[1]
        else:
            return None
    current = _unwrap_optional(current)
    return current if isinstance(current, type) and issubclass(current, BaseModel) else None


def _unwrap_optional(annotation: Any) -> Any:
    if typing.get_origin(annotation) in (Union, types.UnionType):
        args = [arg for arg in typing.get_args(annotation) if arg is not type(None)]
        if len(args) == 1:
            return args[0]
    return annotation


def _show(value: Any) -> str:
    shown = _hide_url_password(repr(value))
    return shown if len(shown) <= _MAX_SHOWN else shown[: _MAX_SHOWN - 3] + "..."
