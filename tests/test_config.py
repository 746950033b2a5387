"""Loading and validating prodval.yaml (direct calls to load_config, no plugin involved)."""

from __future__ import annotations

import base64
import re
import shutil
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest
import trustme

from pytest_prodval.config import (
    ConfigError,
    ProdvalConfig,
    TargetEnv,
    ca_file_problem,
    load_config,
)
from pytest_prodval.safety.redaction import REDACTED

REPO_ROOT = Path(__file__).resolve().parent.parent

MINIMAL_LOCAL = """\
api:
  base_url: http://127.0.0.1:8080
"""


def config_text(local: str = MINIMAL_LOCAL, *, top: str = "", others: str = "") -> str:
    """A prodval.yaml whose ``local`` environment is ``local``; ``others`` are more environments.

    The blocks may be indented any way (they are dedented and re-indented).
    """
    body = textwrap.indent(textwrap.dedent(local), " " * 4)
    more = textwrap.indent(textwrap.dedent(others), " " * 2)
    return f"{textwrap.dedent(top)}environments:\n  local:\n{body}{more}"


WriteConfig = Callable[[str], Path]


@pytest.fixture
def write(tmp_path: Path) -> WriteConfig:
    def write(text: str) -> Path:
        path = tmp_path / "prodval.yaml"
        path.write_text(text, encoding="utf-8")
        return path

    return write


def load(path: Path, environ: dict[str, str] | None = None) -> ProdvalConfig:
    return load_config(path, {} if environ is None else environ)


def load_local(path: Path, environ: dict[str, str] | None = None) -> TargetEnv:
    return load(path, environ).environment("local")


# -- bad configs --------------------------------------------------------------------------------

# (file text, environ, key path or None for file-level problems, expected wording)
BAD_CONFIGS = [
    pytest.param(
        config_text("api:\n  base_ur: http://x\n"),
        {},
        "environments.local.api.base_ur",
        "unknown key; expected one of: base_url, timeout, ",  # (more keys follow)
        id="unknown-key",
    ),
    pytest.param(
        config_text("api:\n  timeout: 3\n"),
        {},
        "environments.local.api",
        "missing required key 'base_url'",
        id="missing-required-key",
    ),
    pytest.param(
        config_text("description: x\n"),
        {},
        "environments.local",
        "missing required key 'api'",
        id="missing-api-block",
    ),
    pytest.param(
        config_text(MINIMAL_LOCAL + "  timeout: abc\n"),
        {},
        "environments.local.api.timeout",
        "expected a number of seconds > 0, got 'abc'",
        id="timeout-not-a-number",
    ),
    pytest.param(
        config_text(MINIMAL_LOCAL + "  timeout: 0\n"),
        {},
        "environments.local.api.timeout",
        "expected a number of seconds > 0, got 0",
        id="timeout-zero",
    ),
    pytest.param(
        config_text(MINIMAL_LOCAL + '  timeout: "5"\n'),
        {},
        "environments.local.api.timeout",
        "expected a number of seconds > 0, got '5'",
        id="quoted-number-is-not-coerced",
    ),
    pytest.param(
        config_text(MINIMAL_LOCAL + '  verify_tls: "false"\n'),
        {},
        "environments.local.api.verify_tls",
        "expected true or false, got 'false'",
        id="quoted-bool-is-not-coerced",
    ),
    pytest.param(
        config_text("api:\n  base_url: ftp://files.example.com\n"),
        {},
        "environments.local.api.base_url",
        "expected an http:// or https:// URL with a host, got 'ftp://files.example.com'",
        id="base-url-wrong-scheme",
    ),
    pytest.param(
        config_text("api:\n  base_url: 8080\n"),
        {},
        "environments.local.api.base_url",
        "expected a string, got 8080",
        id="base-url-not-a-string",
    ),
    pytest.param(
        config_text("api: http://127.0.0.1:8080\n"),
        {},
        "environments.local.api",
        "expected a mapping, got 'http://127.0.0.1:8080'",
        id="api-not-a-mapping",
    ),
    pytest.param(
        config_text(MINIMAL_LOCAL + "  version_path: version\n"),
        {},
        "environments.local.api.version_path",
        "expected a path starting with '/', got 'version'",
        id="version-path-not-absolute",
    ),
    pytest.param(
        config_text(MINIMAL_LOCAL + "  headers:\n    X-Tenant: 42\n"),
        {},
        "environments.local.api.headers.X-Tenant",
        "expected a string, got 42",
        id="header-value-not-a-string",
    ),
    pytest.param(
        config_text(MINIMAL_LOCAL + "database:\n  dsn: mysql://db/x\n"),
        {},
        "environments.local.database.dsn",
        "expected a postgresql:// or postgres:// DSN, got 'mysql://db/x'",
        id="dsn-wrong-scheme",
    ),
    pytest.param(
        config_text(MINIMAL_LOCAL + "database:\n  dsn: postgresql://db/x\n  pool_min: -1\n"),
        {},
        "environments.local.database.pool_min",
        "expected an integer >= 0, got -1",
        id="pool-min-negative",
    ),
    pytest.param(
        config_text(
            MINIMAL_LOCAL + "database:\n  dsn: postgresql://db/x\n  pool_min: 3\n  pool_max: 2\n"
        ),
        {},
        "environments.local.database.pool_max",
        "expected an integer >= pool_min (3), got 2",
        id="pool-max-below-pool-min",
    ),
    pytest.param(
        config_text(
            MINIMAL_LOCAL + "database:\n  dsn: postgresql://db/x\n  statement_timeout_ms: 1.5\n"
        ),
        {},
        "environments.local.database.statement_timeout_ms",
        "expected an integer > 0, got 1.5",
        id="float-where-int-expected",
    ),
    pytest.param(
        config_text(
            MINIMAL_LOCAL
            + "database:\n  dsn: postgresql://db/x\n"
            + "integrity:\n  tables:\n    documents:\n      key: id\n      columns: [sha256]\n"
            + "      erased: delete from documents where created_at < $1\n"
        ),
        {},
        "environments.local.integrity.tables.documents.erased",
        "expected a SELECT query of the keys erased since $1 (the snapshot's time)",
        id="integrity-erased-not-a-select",
    ),
    pytest.param(
        config_text(MINIMAL_LOCAL + "credentials:\n  admin:\n    api_key: k1k1\n    password: p\n"),
        {},
        "environments.local.credentials.admin",
        "expected exactly one of: api_key, bearer_token, or username + password; "
        "got keys api_key, password",
        id="credential-mixed-kinds",
    ),
    pytest.param(
        config_text(MINIMAL_LOCAL + "credentials:\n  admin: {}\n"),
        {},
        "environments.local.credentials.admin",
        "got no credential keys",
        id="credential-empty",
    ),
    pytest.param(
        config_text(MINIMAL_LOCAL + "credentials:\n  admin:\n    username: root\n"),
        {},
        "environments.local.credentials.admin",
        "got keys username",
        id="credential-username-without-password",
    ),
    pytest.param(
        config_text(MINIMAL_LOCAL + "credentials:\n  admin:\n    token: abcd\n"),
        {},
        "environments.local.credentials.admin.token",
        "unknown key; expected one of: api_key, bearer_token, username, password",
        id="credential-unknown-key",
    ),
    pytest.param(
        config_text(MINIMAL_LOCAL + "credentials:\n  admin:\n    password: 12345678\n"),
        {},
        "environments.local.credentials.admin.password",
        "expected a non-empty string, got a value of type int (not shown)",
        id="secret-value-not-echoed",
    ),
    pytest.param(
        config_text(
            MINIMAL_LOCAL + "credentials:\n  viewer:\n    api_key: abcd\ndefault_role: admin\n"
        ),
        {},
        "environments.local.default_role",
        "expected one of the roles under credentials: viewer, got 'admin'",
        id="default-role-not-a-role",
    ),
    pytest.param(
        config_text(MINIMAL_LOCAL + "slo:\n  error_ratio: 1.5\n"),
        {},
        "environments.local.slo.error_ratio",
        "expected a ratio between 0 and 1, got 1.5",
        id="error-ratio-above-one",
    ),
    pytest.param(
        config_text(MINIMAL_LOCAL + "slo:\n  cpu_percent: 101\n"),
        {},
        "environments.local.slo.cpu_percent",
        "expected a percentage between 0 and 100, got 101",
        id="percent-above-100",
    ),
    pytest.param(
        config_text(MINIMAL_LOCAL + "load:\n  users: 0\n"),
        {},
        "environments.local.load.users",
        "expected an integer >= 1, got 0",
        id="zero-users",
    ),
    pytest.param(
        config_text(MINIMAL_LOCAL + "load:\n  max_rps: 0\n"),
        {},
        "environments.local.load.max_rps",
        "expected a number of requests per second > 0, got 0",
        id="optional-field-keeps-its-wording",
    ),
    pytest.param(
        config_text(MINIMAL_LOCAL + "tls:\n  min_version: TLSv1.1\n"),
        {},
        "environments.local.tls.min_version",
        "expected 'TLSv1.2' or 'TLSv1.3', got 'TLSv1.1'",
        id="tls-version-not-allowed",
    ),
    pytest.param(
        config_text(MINIMAL_LOCAL + 'protected: "yes"\n'),
        {},
        "environments.local.protected",
        "expected true or false, got 'yes'",
        id="protected-not-a-bool",
    ),
    pytest.param(
        config_text(top="enviroments: {}\n"),
        {},
        "enviroments",
        "unknown key; expected one of: version, defaults, environments",
        id="unknown-top-level-key",
    ),
    pytest.param(
        config_text(top="version: 2\n"),
        {},
        "version",
        "expected 1 (this prodval reads config version 1), got 2",
        id="unsupported-version",
    ),
    pytest.param(
        config_text(top="version: '1'\n"),
        {},
        "version",
        "expected 1 (this prodval reads config version 1), got '1'",
        id="version-as-string",
    ),
    pytest.param(
        "version: 1\n",
        {},
        None,
        "missing required key 'environments'",
        id="no-environments-key",
    ),
    pytest.param(
        "environments: {}\n",
        {},
        "environments",
        "expected a non-empty mapping, got {}",
        id="no-environments",
    ),
    pytest.param(
        config_text(others="  my env:\n    api:\n      base_url: http://x\n"),
        {},
        "environments",
        "expected environment names made of letters, digits, '_', '.' and '-', got 'my env'",
        id="bad-environment-name",
    ),
    pytest.param(
        "environments:\n  local:\n",
        {},
        "environments.local",
        "expected a mapping, got None",
        id="environment-not-a-mapping",
    ),
    pytest.param(
        config_text(top="defaults:\n  api:\n    tmeout: 3\n"),
        {},
        "defaults.api.tmeout",
        "unknown key; expected one of: base_url, timeout,",
        id="error-inside-defaults-points-at-defaults",
    ),
    pytest.param(
        config_text("api:\n  base_url: ${LOCAL_API_URL}\n"),
        {},
        "environments.local.api.base_url",
        "environment variable LOCAL_API_URL is not set "
        "(use ${LOCAL_API_URL:-default} for a default)",
        id="missing-variable",
    ),
    pytest.param(
        config_text(MINIMAL_LOCAL + "  timeout: ${LOCAL_TIMEOUT:-abc}\n"),
        {},
        "environments.local.api.timeout",
        "expected a number of seconds > 0, got 'abc'",
        id="interpolated-default-of-wrong-type",
    ),
    pytest.param(
        config_text(MINIMAL_LOCAL + "  timeout: ${LOCAL_TIMEOUT}\n"),
        {"LOCAL_TIMEOUT": "soon-ish"},
        "environments.local.api.timeout",
        f"expected a number of seconds > 0, got '{REDACTED}'",
        id="variable-value-redacted-in-error",
    ),
    pytest.param(
        config_text("api:\n  base_url: http://${HOST\n"),
        {},
        "environments.local.api.base_url",
        "invalid interpolation '${HOST'; write ${NAME} or ${NAME:-default}, or $$ for a literal $",
        id="unterminated-interpolation",
    ),
    pytest.param("", {}, None, "the file is empty", id="empty-file"),
    pytest.param("# only a comment\n", {}, None, "the file is empty", id="comment-only-file"),
    pytest.param(
        "- local\n- staging\n",
        {},
        None,
        "expected a mapping with an 'environments' key at the top level, got ['local', 'staging']",
        id="top-level-list",
    ),
    pytest.param(
        "environments:\n  local:\n    api: {base_url: http://x\n",
        {},
        None,
        "invalid YAML:",
        id="yaml-syntax-error",
    ),
    pytest.param(
        config_text(MINIMAL_LOCAL + "  timeout: 1\n  timeout: 2\n"),
        {},
        None,
        "line 6, column 7: invalid YAML: duplicate key 'timeout'",
        id="duplicate-key",
    ),
]

# api.ca_file is read as clients read it at the start of the session (before any check: the
# embedded target makes its CA as it starts), not by each check at request time.
BAD_CA_FILES = [
    pytest.param(
        config_text(MINIMAL_LOCAL + "  ca_file: tls/no-such-ca.pem\n"),
        {},
        "environments.local.api.ca_file",
        "expected a readable file of PEM CA certificates, got '",
        id="ca-file-missing",
    ),
    pytest.param(
        config_text(MINIMAL_LOCAL + "  ca_file: tls/no-such-ca.pem\n"),
        {},
        "environments.local.api.ca_file",
        "/tls/no-such-ca.pem': no such file or directory",
        id="ca-file-missing-names-the-resolved-path",
    ),
    pytest.param(
        config_text(MINIMAL_LOCAL + "  ca_file: .\n"),
        {},
        "environments.local.api.ca_file",
        "': is a directory",
        id="ca-file-a-directory",
    ),
    pytest.param(
        config_text(MINIMAL_LOCAL + "  ca_file: prodval.yaml\n"),  # the config file itself
        {},
        "environments.local.api.ca_file",
        "/prodval.yaml': not PEM CA certificates (NO_CERTIFICATE_OR_CRL_FOUND)",
        id="ca-file-not-pem",
    ),
]


@pytest.mark.parametrize(("text", "environ", "key_path", "expected"), BAD_CONFIGS)
def test_it_rejects_a_bad_config_with_a_one_line_message(
    write: WriteConfig,
    text: str,
    environ: dict[str, str],
    key_path: str | None,
    expected: str,
) -> None:
    path = write(text)

    with pytest.raises(ConfigError) as raised:
        load(path, environ).environment("local")

    message = str(raised.value)
    assert "\n" not in message
    assert message.startswith(f"{path}: ")
    if key_path is not None:
        assert message.startswith(f"{path}: {key_path}: ")
    assert expected in message


def test_it_reports_line_and_column_of_a_yaml_syntax_error(write: WriteConfig) -> None:
    path = write("environments:\n  local:\n    api: [1, 2\n")

    with pytest.raises(ConfigError, match=r"^.*prodval\.yaml: line \d+, column \d+: invalid YAML"):
        load(path)


def test_it_counts_the_other_problems(write: WriteConfig) -> None:
    path = write(config_text(MINIMAL_LOCAL + "  timeout: abc\n  verify_tls: 3\n  extra: 1\n"))

    with pytest.raises(ConfigError) as raised:
        load(path)

    assert str(raised.value).endswith(" (and 2 more problems)")


def test_it_names_the_path_of_a_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nowhere" / "prodval.yaml"

    with pytest.raises(ConfigError) as raised:
        load_config(path, {})

    assert str(raised.value) == f"{path}: file not found (looked for {path})"


def test_it_reports_a_directory_as_unreadable(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read the file"):
        load_config(tmp_path, {})


def test_it_rejects_an_unknown_environment_listing_the_known_ones(write: WriteConfig) -> None:
    others = (
        "  staging:\n    api: {base_url: http://s}\n  production:\n    api: {base_url: http://p}\n"
    )
    config = load(write(config_text(others=others)))

    with pytest.raises(ConfigError) as raised:
        config.environment("prod")

    assert str(raised.value) == (
        f"{config.path}: unknown environment 'prod'; expected one of: local, production, staging"
    )


def test_it_checks_the_structure_of_environments_that_are_not_selected(write: WriteConfig) -> None:
    others = "  production:\n    api:\n      base_url: ${PROD_API_URL}\n      timeout: abc\n"
    path = write(config_text(others=others))

    with pytest.raises(ConfigError, match=r"environments\.production\.api\.timeout: expected a"):
        load(path)


def test_it_checks_cross_field_rules_even_with_unset_variables(write: WriteConfig) -> None:
    others = textwrap.dedent(
        """\
          production:
            api:
              base_url: ${PROD_API_URL}
            credentials:
              admin:
                api_key: ${PROD_KEY}
                password: ${PROD_PASSWORD}
        """
    )
    path = write(config_text(others=others))

    with pytest.raises(ConfigError, match=r"production\.credentials\.admin: expected exactly one"):
        load(path)


# -- good configs -------------------------------------------------------------------------------


def test_it_applies_the_documented_defaults(write: WriteConfig) -> None:
    env = load_local(write(config_text()))

    assert env.name == "local"
    assert env.protected is False
    assert env.description == ""
    assert env.api.base_url == "http://127.0.0.1:8080"
    assert env.api.timeout == 5.0
    assert env.api.verify_tls is True
    assert env.api.version_path is None
    assert env.api.version_field == "version"
    assert env.api.api_key_header == "X-API-Key"
    assert env.api.headers == {}
    assert env.database is None
    assert env.credentials == {}
    assert env.default_role is None
    assert env.slo.api_p95_ms == 200
    assert env.slo.error_ratio == 0.01
    assert env.slo.disk_percent == 85
    assert env.load.users == 10
    assert env.load.max_rps is None
    assert env.tls.required is False
    assert env.tls.min_version == "TLSv1.2"
    assert env.tls.cert_min_days == 14
    assert env.timeouts.check_s == 60
    assert env.timeouts.run_s == 900
    assert env.secrets == frozenset()
    assert not env.redactor()


def test_it_applies_database_defaults(write: WriteConfig) -> None:
    env = load_local(write(config_text(MINIMAL_LOCAL + "database:\n  dsn: postgres://db/app\n")))

    assert env.database is not None
    assert env.database.timeout == 5.0
    assert (env.database.pool_min, env.database.pool_max) == (1, 4)
    assert env.database.statement_timeout_ms == 5000


def test_it_accepts_an_integer_where_a_number_is_expected(write: WriteConfig) -> None:
    env = load_local(write(config_text(MINIMAL_LOCAL + "  timeout: 3\n")))

    assert env.api.timeout == 3.0
    assert isinstance(env.api.timeout, float)


def test_it_deep_merges_defaults_under_each_environment(write: WriteConfig) -> None:
    top = """\
        defaults:
          protected: true
          api:
            timeout: 9
            headers: {X-From-Defaults: d, X-Both: d}
          slo:
            api_p95_ms: 300
        """
    local = """\
        protected: false
        api:
          base_url: http://127.0.0.1:8080
          headers: {X-Both: local}
        """
    others = "  staging:\n    api:\n      base_url: https://staging.example.com\n"
    config = load(write(config_text(local, top=top, others=others)))

    local_env = config.environment("local")
    assert local_env.protected is False
    assert local_env.api.timeout == 9
    assert local_env.api.headers == {"X-Both": "local", "X-From-Defaults": "d"}
    assert local_env.slo.api_p95_ms == 300
    assert local_env.slo.db_p95_ms == 100
    staging = config.environment("staging")
    assert staging.protected is True
    assert staging.api.headers == {"X-From-Defaults": "d", "X-Both": "d"}


def test_an_environment_can_opt_out_of_a_default_block_with_null(write: WriteConfig) -> None:
    top = "defaults:\n  database:\n    dsn: postgresql://db/app\n"
    env = load_local(write(config_text(MINIMAL_LOCAL + "database: null\n", top=top)))

    assert env.database is None


def test_it_substitutes_variables_with_and_without_defaults(write: WriteConfig) -> None:
    local = """\
        description: ${DESC:-no description}
        api:
          base_url: ${API_URL}
          version_path: /${API_PREFIX:-v1}/version
        """
    path = write(config_text(local))

    env = load_local(path, {"API_URL": "https://api.example.com"})

    assert env.api.base_url == "https://api.example.com"
    assert env.api.version_path == "/v1/version"
    assert env.description == "no description"


def test_a_default_replaces_an_empty_variable(write: WriteConfig) -> None:
    local = MINIMAL_LOCAL + "description: ${DESC:-fallback}\n"

    assert load_local(write(config_text(local)), {"DESC": ""}).description == "fallback"


def test_double_dollar_is_a_literal_dollar_and_a_lone_dollar_is_kept(write: WriteConfig) -> None:
    local = MINIMAL_LOCAL + "  headers:\n    X-Price: $${NOT_A_VAR} costs 5$\n"

    env = load_local(write(config_text(local)))

    assert env.api.headers == {"X-Price": "${NOT_A_VAR} costs 5$"}


def test_a_whole_scalar_substitution_is_read_as_yaml(write: WriteConfig) -> None:
    local = """\
        api:
          base_url: http://127.0.0.1:8080
          timeout: ${API_TIMEOUT:-2.5}
          verify_tls: ${VERIFY_TLS}
          version_path: ${VERSION_PATH:-}
        load:
          users: ${USERS}
        """
    env = load_local(write(config_text(local)), {"VERIFY_TLS": "false", "USERS": "3"})

    assert env.api.timeout == 2.5
    assert env.api.verify_tls is False
    assert env.api.version_path is None
    assert env.load.users == 3


def test_a_string_field_keeps_the_text_of_a_numeric_variable(write: WriteConfig) -> None:
    local = MINIMAL_LOCAL + textwrap.dedent(
        """\
        description: ${DESC}
        credentials:
          admin:
            username: admin
            password: ${ADMIN_PASSWORD}
        """
    )
    env = load_local(write(config_text(local)), {"ADMIN_PASSWORD": "007123", "DESC": "true"})

    assert env.credentials["admin"].password == "007123"
    assert env.description == "true"


def test_a_missing_variable_of_another_environment_is_not_an_error(write: WriteConfig) -> None:
    others = textwrap.dedent(
        """\
          production:
            protected: true
            api:
              base_url: ${PROD_API_URL}
              timeout: ${PROD_TIMEOUT}
            credentials:
              admin:
                api_key: ${PROD_ADMIN_KEY}
        """
    )
    config = load(write(config_text(others=others)))

    assert config.environment("local").api.base_url == "http://127.0.0.1:8080"
    with pytest.raises(ConfigError) as raised:
        config.environment("production")
    assert str(raised.value) == (
        f"{config.path}: environments.production.api.base_url: environment variable "
        "PROD_API_URL is not set (use ${PROD_API_URL:-default} for a default)"
        " (and 2 more problems)"
    )


def test_it_collects_secrets_from_variables_credentials_and_urls(write: WriteConfig) -> None:
    local = """\
        description: ${DESC}
        api:
          base_url: https://robot:url-pass@api.example.com
        database:
          dsn: postgresql://app:db%40pass@db.example.com/app
        credentials:
          admin:
            username: admin
            password: literal-password
          ci:
            bearer_token: ${CI_TOKEN}
          viewer:
            api_key: abc
        """
    environ = {"DESC": "described by the environment", "CI_TOKEN": "tok-123456"}

    env = load_local(write(config_text(local)), environ)

    assert env.secrets == {
        "described by the environment",
        "tok-123456",
        "literal-password",
        base64.b64encode(b"admin:literal-password").decode(),  # the Basic auth header's
        "url-pass",
        "db%40pass",
        "db@pass",
    }
    assert "abc" not in env.secrets  # too short to track
    assert "admin" not in env.secrets  # usernames are not secret


def test_literal_defaults_are_not_secrets_but_substituted_values_are(write: WriteConfig) -> None:
    local = MINIMAL_LOCAL + "description: ${DESC:-a literal default}\n"
    path = write(config_text(local))

    assert load_local(path).secrets == frozenset()
    assert load_local(path, {"DESC": "from the env"}).secrets == {"from the env"}


def test_a_default_role_defaults_to_the_first_role(write: WriteConfig) -> None:
    local = MINIMAL_LOCAL + textwrap.dedent(
        """\
        credentials:
          operator: {bearer_token: op-token}
          admin: {username: admin, password: admin-pass}
          viewer: {api_key: viewer-key}
        """
    )
    env = load_local(write(config_text(local)))

    assert env.default_role == "operator"
    assert [c.kind for c in env.credentials.values()] == ["bearer_token", "basic", "api_key"]


def test_an_explicit_default_role_is_kept(write: WriteConfig) -> None:
    local = MINIMAL_LOCAL + "credentials:\n  a: {api_key: aaaa}\n  b: {api_key: bbbb}\n"
    env = load_local(write(config_text(local + "default_role: b\n")))

    assert env.default_role == "b"


def test_the_repr_of_an_environment_does_not_show_secrets(write: WriteConfig) -> None:
    local = """\
        api:
          base_url: https://robot:url-pass@api.example.com
        database:
          dsn: postgresql://app:db-pass@db/app
        credentials:
          admin: {username: admin, password: admin-pass}
          ci: {api_key: ci-api-key}
        """
    shown = repr(load_local(write(config_text(local))))

    for secret in ("url-pass", "db-pass", "admin-pass", "ci-api-key"):
        assert secret not in shown


def test_the_redactor_hides_the_environments_secrets(write: WriteConfig) -> None:
    local = MINIMAL_LOCAL + 'credentials:\n  ci: {api_key: "${CI_KEY}"}\n'
    env = load_local(write(config_text(local)), {"CI_KEY": "k/3y+value"})

    redactor = env.redactor()

    assert redactor.redact("key=k/3y+value") == "key=***"
    assert redactor.redact("key=k%2F3y%2Bvalue") == "key=***"


def test_environment_names_keep_file_order(write: WriteConfig) -> None:
    others = (
        "  zeta:\n    api: {base_url: http://z}\n  alpha.eu-1:\n    api: {base_url: http://a}\n"
    )

    config = load(write(config_text(others=others)))

    assert config.environment_names == ("local", "zeta", "alpha.eu-1")


def test_it_reads_os_environ_by_default(
    write: WriteConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PRODVAL_TEST_API_URL", "https://from-os-environ.example.com")
    path = write(config_text("api:\n  base_url: ${PRODVAL_TEST_API_URL}\n"))

    env = load_config(path).environment("local")

    assert env.api.base_url == "https://from-os-environ.example.com"


def test_the_environment_is_read_once_at_load_time(write: WriteConfig) -> None:
    environ = {"API_URL": "https://before.example.com"}
    config = load(write(config_text("api:\n  base_url: ${API_URL}\n")), environ)

    environ["API_URL"] = "https://after.example.com"

    assert config.environment("local").api.base_url == "https://before.example.com"


def test_the_repository_example_config_is_valid(tmp_path: Path) -> None:
    # A copy beside a CA of its own: the repository's .docpipe/tls exists only after `docpipe up`.
    path = tmp_path / "prodval.yaml"
    shutil.copy(REPO_ROOT / "prodval.yaml", path)
    write_ca(tmp_path / ".docpipe/tls/ca.pem")
    config = load_config(path, {})

    assert config.environment_names == ("local", "staging", "production")
    local = config.environment("local")
    assert local.protected is False
    assert local.api.base_url == "https://127.0.0.1:8443"
    assert local.api.ca_file == str(tmp_path / ".docpipe/tls/ca.pem")
    assert local.database is not None
    assert local.database.dsn == (
        "postgresql://docpipe_monitor:local-monitor-password@127.0.0.1:8446/docpipe"
    )
    assert set(local.credentials) == {"admin", "operator", "viewer", "other_tenant_admin"}
    for protected in ("staging", "production"):
        with pytest.raises(ConfigError, match="is not set"):
            config.environment(protected)


def test_the_repository_example_config_resolves_production_from_variables() -> None:
    environ = {
        "PROD_API_URL": "https://docpipe.example.com",
        "PROD_DB_DSN": "postgresql://docpipe:prod-db-pass@db.internal:5432/docpipe",
        "PROD_ADMIN_USER": "release-bot",
        "PROD_ADMIN_PASSWORD": "prod-admin-pass",
        "PROD_OPERATOR_API_KEY": "prod-operator-key",
        "PROD_VIEWER_API_KEY": "prod-viewer-key",
    }

    production = load_config(REPO_ROOT / "prodval.yaml", environ).environment("production")

    assert production.protected is True
    assert production.tls.required is True
    assert "prod-db-pass" in production.secrets
    assert "prod-admin-pass" in production.secrets


def test_yaml_anchors_and_merge_keys_work_and_may_be_overridden(write: WriteConfig) -> None:
    text = textwrap.dedent(
        """\
        environments:
          local:
            api: &api
              base_url: http://127.0.0.1:8080
              timeout: 3
          staging:
            api:
              <<: *api
              timeout: 4
        """
    )

    staging = load(write(text)).environment("staging")

    assert (staging.api.base_url, staging.api.timeout) == ("http://127.0.0.1:8080", 4)


def test_the_complete_example_in_the_docs_is_valid(tmp_path: Path) -> None:
    docs = (REPO_ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")
    section = docs.split("## A complete example", 1)[1]
    example = section.split("```yaml\n", 1)[1].split("```", 1)[0]
    path = tmp_path / "prodval.yaml"
    path.write_text(example, encoding="utf-8")
    environ = {
        "PROD_API_URL": "https://docpipe.example.com",
        "PROD_DB_DSN": "postgresql://docpipe:prod-db-pass@db.internal/docpipe",
        "PROD_ADMIN_USER": "release-bot",
        "PROD_ADMIN_PASSWORD": "prod-admin-pass",
        "PROD_VIEWER_API_KEY": "prod-viewer-key",
    }

    config = load_config(path, environ)

    assert config.environment("local").default_role == "viewer"
    assert config.environment("production").load.max_rps == 20


def write_ca(path: Path) -> Path:
    """A real CA certificate at ``path``: ``api.ca_file`` is read at session start."""
    path.parent.mkdir(parents=True, exist_ok=True)
    trustme.CA().cert_pem.write_to_path(str(path))
    return path


def test_a_relative_ca_file_is_relative_to_the_config_file(write: WriteConfig) -> None:
    path = write(config_text(MINIMAL_LOCAL + "  ca_file: tls/ca.pem\n"))
    write_ca(path.parent / "tls/ca.pem")
    assert load_local(path).api.ca_file == str(path.parent / "tls/ca.pem")


def test_a_bad_ca_file_only_matters_when_its_environment_is_selected(
    write: WriteConfig,
) -> None:
    # Production's CA may exist only where production is validated from.
    others = "production:\n  api: {base_url: 'https://x.example', ca_file: /no/such/ca.pem}\n"
    config = load(write(config_text(others=others)))
    assert ca_file_problem(config.environment("local")) is None
    problem = ca_file_problem(config.environment("production"))
    assert problem is not None
    assert re.search(r"environments\.production\.api\.ca_file: expected", problem), problem


@pytest.mark.parametrize(("text", "environ", "key_path", "expected"), BAD_CA_FILES)
def test_a_bad_ca_file_is_one_line_naming_the_key_path_and_the_file(
    write: WriteConfig,
    text: str,
    environ: dict[str, str],
    key_path: str,
    expected: str,
) -> None:
    path = write(text)
    problem = ca_file_problem(load(path, environ).environment("local"))
    assert problem is not None and "\n" not in problem
    assert problem.startswith(f"{path}: {key_path}: ")
    assert expected in problem
