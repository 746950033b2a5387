"""The pydantic models of ``prodval.yaml`` and their validators; errors say what was expected.

Field types carry an ``_Expect`` wording ("a number of seconds > 0") that ``errors`` shows.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from ..safety.redaction import Redactor
from .messages import (
    EXPECT_ABSOLUTE_PATH,
    EXPECT_DSN,
    EXPECT_ENV_NAMES,
    EXPECT_HTTP_URL,
    EXPECT_ONE_CREDENTIAL,
    EXPECT_VERSION,
    SUPPORTED_VERSION,
    _hide_url_password,
)


class _Expect(str):
    """Annotated metadata: how to say what a field accepts, e.g. "a number of seconds > 0"."""


def _expected(text: str) -> PydanticCustomError:
    """An error rendered as "expected <text>, got <value>"."""
    return PydanticCustomError("prodval_expected", text)


def _problem(text: str) -> PydanticCustomError:
    """An error rendered verbatim (for problems where echoing the value would not help)."""
    return PydanticCustomError("prodval_problem", text)


# Finite: an infinite timeout or budget is a hang waiting to happen.
Seconds = Annotated[float, Field(gt=0, allow_inf_nan=False), _Expect("a number of seconds > 0")]
Milliseconds = Annotated[
    float, Field(gt=0, allow_inf_nan=False), _Expect("a number of milliseconds > 0")
]
Percent = Annotated[float, Field(ge=0, le=100), _Expect("a percentage between 0 and 100")]
Ratio = Annotated[float, Field(ge=0, le=1), _Expect("a ratio between 0 and 1")]
RequestRate = Annotated[float, Field(gt=0), _Expect("a number of requests per second > 0")]
NonEmptyStr = Annotated[str, Field(min_length=1), _Expect("a non-empty string")]

_ENV_NAME = re.compile(r"[A-Za-z0-9_.-]+")
# What httpx and h11 send without failing at request time (`Illegal header value b'...'`, an
# error that echoes the value): a token as the name, printable ASCII and tabs as the value.
_HEADER_NAME = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_HEADER_VALUE = re.compile(r"[\t\x20-\x7e]*")
EXPECT_HEADER_VALUE = "expected printable ASCII without line breaks or controls (value not shown)"


def _check_header_value(what: str, value: str) -> str:
    if not _HEADER_VALUE.fullmatch(value):
        raise _problem(f"{what}: {EXPECT_HEADER_VALUE}")
    return value


_MODEL_CONFIG = ConfigDict(extra="forbid", strict=True, frozen=True)


class _Model(BaseModel):
    model_config = _MODEL_CONFIG


class ApiConfig(_Model):
    base_url: str
    # The total deadline of one exchange: connect, TLS, the request and the whole answer.
    timeout: Seconds = 5.0
    # Answers larger than this are refused (and never copied into messages or reports).
    max_body_mb: Annotated[
        float, Field(gt=0, le=1024, allow_inf_nan=False), _Expect("a number of MiB in (0, 1024]")
    ] = 10.0
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

    @field_validator("headers")
    @classmethod
    def _check_headers(cls, value: dict[str, str]) -> dict[str, str]:
        for name, text in value.items():
            if not _HEADER_NAME.fullmatch(name):
                raise _problem(
                    f"header name {name!r}: expected letters, digits and !#$%&'*+-.^_`|~"
                )
            _check_header_value(f"value of header {name!r}", text)
        return value

    @field_validator("api_key_header")
    @classmethod
    def _check_api_key_header(cls, value: str) -> str:
        if not _HEADER_NAME.fullmatch(value):
            raise _expected("a header name (letters, digits and !#$%&'*+-.^_`|~)")
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


class Credential(_Model):
    """How one role authenticates: an API key, a bearer token, or username + password."""

    api_key: NonEmptyStr | None = Field(default=None, repr=False)
    bearer_token: NonEmptyStr | None = Field(default=None, repr=False)
    username: NonEmptyStr | None = None
    password: NonEmptyStr | None = Field(default=None, repr=False)

    @field_validator("api_key", "bearer_token")
    @classmethod
    def _check_sent_as_header(cls, value: str | None) -> str | None:
        # Sent in a header (api.api_key_header, Authorization).
        return None if value is None else _check_header_value("sent as a header", value)

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


# A time budget below a second would go off inside pytest's own reporting (an INTERNALERROR,
# which a gate reads as a failing release), not in the check it bounds.
BudgetSeconds = Annotated[
    float, Field(ge=1, allow_inf_nan=False), _Expect("a number of seconds >= 1")
]


class Timeouts(_Model):
    check_s: BudgetSeconds = 60.0
    run_s: BudgetSeconds = 900.0


# A PostgreSQL identifier the snapshot may put in its SQL unquoted: a table (optionally
# schema-qualified) or a column. Anything else is refused here, never quoted at query time.
_IDENTIFIER = r"^[A-Za-z_][A-Za-z0-9_]{0,62}$"
Identifier = Annotated[
    str, Field(pattern=_IDENTIFIER), _Expect("a column name (letters, digits, '_')")
]
_TABLE_NAME = re.compile(r"([A-Za-z_][A-Za-z0-9_]{0,62}\.)?[A-Za-z_][A-Za-z0-9_]{0,62}")


class IntegrityTable(_Model):
    """A table a release must never lose: its rows by ``key``, their ``columns`` checksummed."""

    key: Identifier
    columns: Annotated[
        list[Identifier], Field(min_length=1), _Expect("a non-empty list of column names")
    ]
    # When a row was created: rows created after the snapshot are reported as added, not as
    # differences (without it, every row the snapshot did not see counts as added).
    created_at: Identifier | None = None
    # A read-only query whose first column is the keys of the rows erased on purpose since $1
    # (the snapshot's time, a timestamptz): a GDPR erasure or a retention purge during the
    # window is a row accounted for, not a row lost.
    erased: str | None = None

    @field_validator("erased")
    @classmethod
    def _check_erased(cls, value: str | None) -> str | None:
        if value is not None and (
            not re.match(r"\s*(select|with)\b", value, re.IGNORECASE) or "$1" not in value
        ):
            raise _expected("a SELECT query of the keys erased since $1 (the snapshot's time)")
        return value

    @field_validator("columns")
    @classmethod
    def _check_distinct(cls, value: list[str]) -> list[str]:
        if len(set(value)) != len(value):
            raise _expected("each column once")
        return value


class IntegrityConfig(_Model):
    """``integrity:``: the data snapshot prodval-gate takes before a deploy and checks after."""

    tables: Annotated[
        dict[str, IntegrityTable], Field(min_length=1), _Expect("a non-empty mapping")
    ]
    # Rows per table the snapshot reads at most: a bigger table is a problem to say, not a
    # silent partial comparison.
    max_rows: Annotated[int, Field(ge=1), _Expect("an integer >= 1")] = 1_000_000

    @field_validator("tables")
    @classmethod
    def _check_table_names(cls, value: dict[str, IntegrityTable]) -> dict[str, IntegrityTable]:
        for name in value:
            if not _TABLE_NAME.fullmatch(name):
                raise PydanticCustomError(
                    "prodval_problem",
                    "expected table names (letters, digits, '_', optionally schema.table), "
                    "got {name}",
                    {"name": repr(name)},
                )
        return value


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
    # The data prodval-gate --deploy snapshots and checks (read with database.dsn's role).
    integrity: IntegrityConfig | None = None

    @model_validator(mode="after")
    def _check_integrity_has_a_database(self) -> _EnvironmentBlock:
        if self.integrity is not None and self.database is None:
            raise _problem(
                "integrity: needs database.dsn (the snapshot reads the tables through it)"
            )
        return self

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
    # Where api.ca_file is set, for the message when the file is checked (session start).
    _ca_file_key: str = PrivateAttr(default="api.ca_file")

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
