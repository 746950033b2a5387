"""Fuzzing the loaders of the two files a user hands prodval: prodval.yaml and the baseline.

Whatever the bytes, a loader either returns something usable or raises its own error, whose
message is one line starting with the file's path: pytest shows that line and exits with code
4. Any other exception would be a traceback, so a bug. A baseline that loads must be the one
that was recorded: a flipped byte, a cut or a hand edit is refused, never silently used.

The loaders are called in-process, so hundreds of examples take a few seconds; a few runs
through pytest at the end pin the user's view (exit code 4, one line, no traceback).
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import trustme
import yaml
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from pytest_prodval.baseline.store import (
    SCHEMA_VERSION,
    BaselineError,
    BaselineFile,
    Provenance,
    dumps,
    write_merged,
)
from pytest_prodval.config import (
    ApiConfig,
    ConfigError,
    Credential,
    DatabaseConfig,
    LoadProfile,
    SloConfig,
    Timeouts,
    TlsExpectations,
    load_config,
)

# Deterministic, and no example database written into the working tree. The example counts
# keep the whole module at a few seconds; the properties that find the most get the most.
FUZZ = settings(derandomize=True, database=None, deadline=None, max_examples=40)
FUZZ_MORE = settings(FUZZ, max_examples=80)


@pytest.fixture(scope="module")
def scratch(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One directory for the whole module: each example overwrites the same file in it.

    VALID's ``api.ca_file`` (tls/ca.pem) is a real CA certificate: it is read at load.
    """
    scratch = tmp_path_factory.mktemp("fuzz")
    (scratch / "tls").mkdir()
    trustme.CA().cert_pem.write_to_path(str(scratch / "tls" / "ca.pem"))
    return scratch


def assert_one_line(error: Exception, path: Path) -> str:
    """What pytest will print for ``error``: one line that starts with the file's path."""
    message = str(error)
    assert "\n" not in message and "\r" not in message, message
    assert message.startswith(f"{path}: "), message
    assert message[len(f"{path}: ") :].strip(), message
    return message


# ==============================================================================================
# prodval.yaml
# ==============================================================================================

SafeDumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)  # libyaml's, where built: faster

ENVIRON = {
    "PROD_API_URL": "https://docpipe.example.com",
    "PROD_DB_DSN": "postgresql://docpipe@db.internal/docpipe",
    "PROD_TOKEN": "prod-token-value",
}


def check_config(path: Path, environ: dict[str, str] | None = None) -> list[str]:
    """Load ``path`` as the plugin does, then resolve each environment; the errors raised.

    Only ConfigError may come out, always as one line naming the file.
    """
    environ = ENVIRON if environ is None else environ
    try:
        config = load_config(path, environ)
    except ConfigError as exc:
        return [assert_one_line(exc, path)]
    messages = []
    for name in config.environment_names:
        try:
            config.environment(name)
        except ConfigError as exc:
            messages.append(assert_one_line(exc, path))
    return messages


def write_yaml(path: Path, doc: Any) -> Path:
    text = yaml.dump(doc, Dumper=SafeDumper, sort_keys=False, allow_unicode=True)
    path.write_text(text, encoding="utf-8")
    return path


SECTIONS: dict[str, type[BaseModel]] = {
    "api": ApiConfig,
    "database": DatabaseConfig,
    "slo": SloConfig,
    "load": LoadProfile,
    "tls": TlsExpectations,
    "timeouts": Timeouts,
}
KEY_NAMES = sorted(
    {"version", "defaults", "environments", "local", "production", "credentials", "params"}
    | {"protected", "description", "default_role", "admin", "viewer", *SECTIONS}
    | {name for model in (*SECTIONS.values(), Credential) for name in model.model_fields}
)
# Values a field may well accept, and values that are wrong in instructive ways.
PLAUSIBLE = [
    "http://127.0.0.1:8080",
    "https://user:pa55word@api.example.com:8443/",
    "http://[::1",
    "postgresql://app:secret@db/app",
    "mysql://db/app",
    "/version",
    "TLSv1.3",
    "admin",
    "${PROD_API_URL}",
    "${UNSET_VAR}",
    "${T:-2.5}",
    "${T:-abc}",
    "$${literal}",
    "${",
    "${1BAD}",
    "2020-13-45",
    "",
    " ",
]
keys = st.sampled_from(KEY_NAMES) | st.text(max_size=6) | st.integers(-2, 2) | st.none()
scalars = (
    st.none()
    | st.booleans()
    | st.integers(-3, 10**6)
    | st.integers()
    | st.floats()
    | st.text(max_size=12)
    | st.sampled_from(PLAUSIBLE)
)
docs = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(keys, inner, max_size=4),
    max_leaves=12,
)


def section(model: type[BaseModel]) -> st.SearchStrategy[dict[Any, Any]]:
    """A mapping with mostly the model's own keys: gets past "unknown key" to the values."""
    return st.dictionaries(st.sampled_from(list(model.model_fields)) | keys, scalars, max_size=5)


env_blocks = st.fixed_dictionaries(
    {},
    optional={
        **{name: section(model) | docs for name, model in SECTIONS.items()},
        "credentials": st.dictionaries(keys, section(Credential) | docs, max_size=2),
        "protected": scalars,
        "description": scalars,
        "default_role": scalars,
        "params": docs,
    },
)
env_names = st.sampled_from(["local", "production", "my env", "a.b-c_1"]) | keys
config_docs = docs | st.fixed_dictionaries(
    {"environments": st.dictionaries(env_names, env_blocks | docs, max_size=3)},
    optional={"version": st.just(1) | scalars, "defaults": env_blocks | docs},
)


@FUZZ_MORE
@given(doc=config_docs)
def test_any_yaml_document_loads_or_fails_with_one_line(scratch: Path, doc: Any) -> None:
    check_config(write_yaml(scratch / "prodval.yaml", doc))


# Plain scalars PyYAML resolves to a type Python may fail to build, tags, anchors, aliases.
YAML_VALUES = [
    "2020-13-45",
    "2020-02-30 25:61:00",
    "2020-01-01 10:00:00 +99:00",
    "0b_",
    "0x_",
    "1:60",
    "0o9",
    "9" * 4400,
    ".nan",
    "-.inf",
    "~",
    "yes",
    "5",
    "abc",
    "http://x",
    "!!int x",
    "!!int ''",
    "!!bool maybe",
    "!!timestamp soon",
    "!!float ''",
    "!!binary ###",
    "!!set [1]",
    "!!omap [1]",
    "!!pairs {a: 1}",
    "!!map x",
    "!!python/name:os.system",
    "!local x",
    "&a [*a]",
    "&b {k: *b}",
    "&c [1]",
    "*c",
    "*nowhere",
    "${X:-0x_}",
    "${X:-2020-13-45}",
    "${",
    "'",
    '"\\x"',
    "[1, 2",
    "{a: 1",
    "|",
    ">",
    "@",
]
# Bits of YAML syntax, to break the structure itself.
YAML_SYNTAX = ["- ", "? ", ":", "<<: *c", "{", "}", "[", "]", ",", "#", "---", "...", "%YAML 1.1"]
YAML_SYNTAX += ["\t", "\\x", "\x00", "\ufeff"]
yaml_lines = st.one_of(
    st.tuples(
        st.integers(0, 6),
        st.sampled_from([*KEY_NAMES, "<<", "? a", "- x"]),
        st.sampled_from(YAML_VALUES) | st.text(max_size=3),
    ).map(lambda line: f"{' ' * line[0]}{line[1]}: {line[2]}"),
    st.tuples(
        st.integers(0, 6),
        st.lists(st.sampled_from(YAML_SYNTAX + YAML_VALUES) | st.text(max_size=3), max_size=4),
    ).map(lambda line: " " * line[0] + " ".join(line[1])),
)
yaml_texts = st.tuples(
    st.sampled_from(
        [
            "",
            "environments:\n  local:\n",
            "environments:\n  local:\n    api:\n      base_url: http://x\n",
        ]
    ),
    st.lists(yaml_lines, max_size=8),
).map(lambda parts: parts[0] + "\n".join(parts[1]))


@FUZZ_MORE
@given(text=yaml_texts)
def test_any_yaml_text_loads_or_fails_with_one_line(scratch: Path, text: str) -> None:
    path = scratch / "prodval.yaml"
    path.write_text(text, encoding="utf-8")
    check_config(path)


@FUZZ
@given(data=st.binary(max_size=80) | st.binary(max_size=8).map(lambda b: b"environments:\n" + b))
def test_any_bytes_load_or_fail_with_one_line(scratch: Path, data: bytes) -> None:
    path = scratch / "prodval.yaml"
    path.write_bytes(data)
    check_config(path)


# Ten levels of ten aliases: 10**10 values once expanded; it used to hang the loader.
BILLION_LAUGHS = "a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]\n" for i in range(1, 10)
)


# Files no fuzzer finds by chance: each one used to end in a traceback (or a hang).
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("x: 2020-13-45\n", "line 1, column 4: invalid YAML: cannot read '2020-13-45'"),
        ("x: !!int abc\n", "line 1, column 4: invalid YAML: cannot read 'abc'"),
        ("x: !!bool maybe\n", "line 1, column 4: invalid YAML: cannot read 'maybe'"),
        ("x: !!timestamp soon\n", "line 1, column 4: invalid YAML: cannot read 'soon'"),
        ("x: !!float ''\n", "line 1, column 4: invalid YAML: cannot read ''"),
        ("x: 0b_\n", "line 1, column 4: invalid YAML: cannot read '0b_'"),
        ("x: 0x_\n", "line 1, column 4: invalid YAML: cannot read '0x_'"),
        ("x: " + "9" * 5000 + "\n", "line 1, column 4: invalid YAML: cannot read '999"),
        ("x: &a [1, *a]\n", "line 1, column 11: invalid YAML: recursive alias *a"),
        ("x: &a {y: *a}\n", "line 1, column 11: invalid YAML: recursive alias *a"),
        ("x: &a {y: 1, <<: *a}\n", "line 1, column 18: invalid YAML: recursive alias *a"),
        ("x: " + "[" * 700 + "]" * 700 + "\n", "invalid YAML: nested too deeply"),
        ("x: " + "{a: " * 700 + "}" * 700 + "\n", "invalid YAML: nested too deeply"),
        (BILLION_LAUGHS, "more than 100000 values once aliases are expanded"),
    ],
    ids=[
        "impossible-date",
        "int-tag-on-text",
        "bool-tag-on-text",
        "timestamp-tag-on-text",
        "float-tag-on-empty",
        "binary-int-without-digits",
        "hex-int-without-digits",
        "int-of-5000-digits",
        "recursive-list",
        "recursive-mapping",
        "recursive-merge-key",
        "deep-lists",
        "deep-mappings",
        "billion-laughs",
    ],
)
def test_a_yaml_value_python_cannot_build_is_a_one_line_error(
    scratch: Path, text: str, expected: str
) -> None:
    path = scratch / "prodval.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as raised:
        load_config(path, {})
    assert expected in assert_one_line(raised.value, path)


def test_an_infinite_number_of_seconds_is_refused(scratch: Path) -> None:
    doc = {"environments": {"local": {"api": {"base_url": "http://x"}, "timeouts": {}}}}
    doc["environments"]["local"]["timeouts"]["run_s"] = float("inf")
    [message] = check_config(write_yaml(scratch / "prodval.yaml", doc), {})
    assert "environments.local.timeouts.run_s: expected a number of seconds >= 1" in message


@pytest.mark.parametrize(
    "default",
    ["2020-13-45", "0b_", "9" * 5000],
    ids=["impossible-date", "binary-int-without-digits", "int-of-5000-digits"],
)
def test_a_variable_default_python_cannot_build_is_kept_as_text(
    scratch: Path, default: str
) -> None:
    # `${T:-...}` alone is re-read as YAML so that `${T:-5}` is a number; text that does not
    # make a value stays text, and the field says what it expected.
    doc = {"environments": {"local": {"api": {"base_url": "http://x", "timeout": ""}}}}
    doc["environments"]["local"]["api"]["timeout"] = "${T:-" + default + "}"
    path = write_yaml(scratch / "prodval.yaml", doc)
    [message] = check_config(path, {})
    assert "environments.local.api.timeout: expected a number of seconds > 0" in message


# -- mutations of a valid config -----------------------------------------------------------------

VALID: dict[str, Any] = {
    "version": 1,
    "defaults": {
        "api": {"version_path": "/version"},
        "database": {"pool_max": 4},
        "slo": {"api_p95_ms": 200, "error_ratio": 0.01},
        "load": {"users": 10, "spawn_rate": 5},
        "timeouts": {"check_s": 60},
    },
    "environments": {
        "local": {
            "description": "on this machine",
            "api": {
                "base_url": "https://127.0.0.1:8443",
                "timeout": 5,
                "verify_tls": True,
                "headers": {"X-Tenant": "t1"},
                "ca_file": "tls/ca.pem",
            },
            "database": {"dsn": "postgresql://app:${DB_PASSWORD:-local-pass}@127.0.0.1/app"},
            "credentials": {
                "admin": {"api_key": "${ADMIN_KEY:-local-admin-key}"},
                "viewer": {"username": "viewer", "password": "viewer-pass"},
            },
            "default_role": "viewer",
            "tls": {"required": True, "min_version": "TLSv1.3", "cert_min_days": 30},
            "load": {"control_url": "http://127.0.0.1:8445/health", "max_rps": 20},
            "params": {"expected_release": "1", "expected_workers": 2},
        },
        "production": {
            "protected": True,
            "api": {"base_url": "${PROD_API_URL}", "version_field": "release"},
            "database": {"dsn": "${PROD_DB_DSN}", "statement_timeout_ms": 5000},
            "credentials": {"operator": {"bearer_token": "${PROD_TOKEN}"}},
            "timeouts": {"run_s": 900},
        },
    },
}

Loc = tuple[str, ...]


def key_paths(node: Any, at: Loc = ()) -> list[Loc]:
    paths: list[Loc] = []
    if isinstance(node, dict):
        for key, value in node.items():
            paths.append((*at, key))
            paths.extend(key_paths(value, (*at, key)))
    return paths


def get_at(node: Any, loc: Loc) -> Any:
    for key in loc:
        node = node[key]
    return node


def has_at(node: Any, loc: Loc) -> bool:
    for key in loc:
        if not isinstance(node, dict) or key not in node:
            return False
        node = node[key]
    return True


def validated(loc: Loc) -> bool:
    """Whether the value at ``loc`` is checked: not free-form, not overridden everywhere.

    A defaults value that every environment replaces with its own is never looked at.
    """
    if "params" in loc[:-1]:
        return False
    if loc[0] == "defaults" and len(loc) > 1:
        return not any(has_at(env, loc[1:]) for env in VALID["environments"].values())
    return True


ALL_PATHS = key_paths(VALID)
# (Not an environment's `api`: the one in defaults then stands in, without a base_url.)
REQUIRED = [
    ("environments",),
    *[("environments", env, "api", "base_url") for env in VALID["environments"]],
    *[("environments", env, "database", "dsn") for env in VALID["environments"]],
    ("environments", "local", "credentials", "admin", "api_key"),
    ("environments", "local", "credentials", "viewer", "username"),
    ("environments", "local", "credentials", "viewer", "password"),
    ("environments", "production", "credentials", "operator", "bearer_token"),
]
# Blocks that take only known keys (headers and params take any).
BLOCKS = [()] + [
    loc
    for loc in ALL_PATHS
    if isinstance(get_at(VALID, loc), dict) and not {"headers", "params"} & set(loc)
]
# Wrong for every key outside params: no field takes a list, nor (but params itself) a
# mapping with this key.
WRONG_VALUES: list[Any] = [[1, 2], {"bogus_key": 1}]


def mutated(scratch: Path, change: Callable[[dict[str, Any]], None]) -> tuple[Path, list[str]]:
    """VALID with ``change`` applied, written and checked: the path and the errors."""
    doc = json.loads(json.dumps(VALID))
    change(doc)
    path = write_yaml(scratch / "prodval.yaml", doc)
    return path, check_config(path)


def dotted(loc: Loc) -> str:
    return ".".join(loc)


def test_the_valid_config_is_valid(scratch: Path) -> None:
    assert check_config(write_yaml(scratch / "prodval.yaml", VALID)) == []


# The next three try every key of VALID, not a sample: the set is small and fixed.


def test_a_wrong_value_at_any_key_is_refused_naming_the_key(scratch: Path) -> None:
    problems = []
    for loc in filter(validated, ALL_PATHS):
        for wrong in WRONG_VALUES if loc[-1] != "params" else WRONG_VALUES[:1]:

            def change(doc: dict[str, Any], loc: Loc = loc, wrong: Any = wrong) -> None:
                get_at(doc, loc[:-1])[loc[-1]] = wrong

            path, messages = mutated(scratch, change)
            prefix = f"{path}: {dotted(loc)}"
            if not messages or not messages[0].startswith(prefix) or "expected" not in messages[0]:
                problems.append(f"{dotted(loc)} = {wrong!r}: {messages}")
    assert problems == []


def test_a_dropped_required_key_is_named(scratch: Path) -> None:
    problems = []
    for loc in REQUIRED:

        def change(doc: dict[str, Any], loc: Loc = loc) -> None:
            del get_at(doc, loc[:-1])[loc[-1]]

        path, messages = mutated(scratch, change)
        prefix = f"{path}: {dotted(loc[:-1])}" if len(loc) > 1 else f"{path}: "
        if not messages or not messages[0].startswith(prefix) or loc[-1] not in messages[0]:
            problems.append(f"without {dotted(loc)}: {messages}")
    assert problems == []


def test_an_unknown_key_in_any_block_is_refused_naming_it(scratch: Path) -> None:
    problems = []
    for loc in BLOCKS:

        def change(doc: dict[str, Any], loc: Loc = loc) -> None:
            get_at(doc, loc)["bogus_key"] = "x"

        path, messages = mutated(scratch, change)
        if not messages or not messages[0].startswith(f"{path}: {dotted((*loc, 'bogus_key'))}: "):
            problems.append(f"bogus_key under {dotted(loc) or 'the top level'}: {messages}")
    assert problems == []


@FUZZ_MORE
@given(
    loc=st.sampled_from(ALL_PATHS),
    action=st.sampled_from(["drop", "replace"]),
    value=docs,
)
def test_any_mutation_of_a_valid_config_loads_or_fails_with_one_line(
    scratch: Path, loc: Loc, action: str, value: Any
) -> None:
    def change(doc: dict[str, Any]) -> None:
        parent = get_at(doc, loc[:-1])
        if action == "drop":
            del parent[loc[-1]]
        else:
            parent[loc[-1]] = value

    mutated(scratch, change)


@pytest.mark.parametrize("depth", [50, 150, 250, 350, 450])
def test_deep_but_parseable_nesting_loads_or_fails_with_one_line(scratch: Path, depth: int) -> None:
    doc = json.loads(json.dumps(VALID))
    doc["environments"]["local"]["params"]["deep"] = "DEEP"
    text = yaml.safe_dump(doc, sort_keys=False)
    path = scratch / "prodval.yaml"
    path.write_text(text.replace("DEEP", "{a: [" * depth + "1" + "]}" * depth), encoding="utf-8")
    check_config(path)


# ==============================================================================================
# The baseline
# ==============================================================================================

PROVENANCE = Provenance("local", "2026-01-01T00:00:00+00:00", "1.0", "0.1.0", "abc123")
PROVENANCE_FIELDS = set(PROVENANCE.to_json())
OPTIONAL_PROVENANCE = {"target_version", "suite_commit"}
TOP_LEVEL = {"schema", "checksum", "provenance", "entries"}

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=8,
)
entry_maps = st.dictionaries(
    st.text(min_size=1, max_size=12),
    st.fixed_dictionaries(
        {
            "kind": st.sampled_from(["exact", "number", "shape", "distribution"]),
            "test": st.sampled_from(["test_a.py::test_x", "test_b.py::T::test_y[1]"]),
            "value": json_values,
        }
    ),
    max_size=4,
)
provenances = st.none() | st.just(PROVENANCE.to_json())


def checksum(data: dict[str, Any]) -> str:
    """The file format's checksum, computed here independently of the store."""
    body = {key: value for key, value in data.items() if key != "checksum"}
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), allow_nan=False)
    return "sha256:" + hashlib.sha256(canonical.encode()).hexdigest()


def recorded(entries: dict[str, Any], provenance: dict[str, Any] | None) -> dict[str, Any]:
    """The data of a baseline as a recording writes it (checksum included)."""
    data: dict[str, Any] = {"schema": SCHEMA_VERSION, "provenance": provenance, "entries": entries}
    data = json.loads(json.dumps(data, allow_nan=False))
    data["checksum"] = checksum(data)
    return data


def load_baseline(path: Path) -> BaselineFile | str:
    """The loaded baseline, or the one-line message of the BaselineError; nothing else."""
    try:
        return BaselineFile.load(path)
    except BaselineError as exc:
        return assert_one_line(exc, path)


def refusal(path: Path) -> str:
    loaded = load_baseline(path)
    assert isinstance(loaded, str), f"accepted: {path.read_bytes()[:300]!r}"
    return loaded


def assert_intact(loaded: BaselineFile, data: dict[str, Any]) -> None:
    """Loading gave exactly what was recorded."""
    assert loaded.entries == data["entries"]
    raw = data["provenance"]
    assert loaded.provenance == (None if raw is None else Provenance(**raw))


def test_the_recorded_format_is_what_write_merged_writes(scratch: Path) -> None:
    path = scratch / "written.json"
    path.unlink(missing_ok=True)
    entry = {"kind": "number", "test": "t.py::t", "value": 0.1, "unit": "ms"}
    write_merged(path, {"t.py::t::x": entry}, PROVENANCE)
    assert path.read_text() == dumps(recorded({"t.py::t::x": entry}, PROVENANCE.to_json()))


@FUZZ_MORE
@given(entries=entry_maps, provenance=provenances, data=st.data())
def test_a_flipped_byte_is_refused_unless_the_content_is_unchanged(
    scratch: Path,
    entries: dict[str, Any],
    provenance: dict[str, Any] | None,
    data: st.DataObject,
) -> None:
    original = recorded(entries, provenance)
    content = bytearray(dumps(original).encode())
    offset = data.draw(st.integers(0, len(content) - 1), label="offset")
    byte = data.draw(st.integers(0, 255).filter(lambda b: b != content[offset]), label="byte")
    content[offset] = byte
    path = scratch / "local.json"
    path.write_bytes(bytes(content))

    loaded = load_baseline(path)

    # Accepted only where the change means nothing: whitespace, `1e+20` for `1e020`, ...
    if isinstance(loaded, BaselineFile):
        assert_intact(loaded, original)


@FUZZ
@given(entries=entry_maps, provenance=provenances, data=st.data())
def test_a_truncated_baseline_is_refused(
    scratch: Path,
    entries: dict[str, Any],
    provenance: dict[str, Any] | None,
    data: st.DataObject,
) -> None:
    text = dumps(recorded(entries, provenance))
    # Cutting the final newline only changes nothing; any other cut loses the closing brace.
    cut = data.draw(st.integers(0, len(text.rstrip()) - 1), label="cut")
    path = scratch / "local.json"
    path.write_text(text[:cut], encoding="utf-8")

    assert "not valid JSON" in refusal(path)


def edit_entries(data: dict[str, Any], draw: Callable[..., Any]) -> None:
    how = draw(st.sampled_from(["edit", "add", "remove"] if data["entries"] else ["add"]))
    if how == "add":
        key = draw(st.text(min_size=1, max_size=12).filter(lambda k: k not in data["entries"]))
        data["entries"][key] = {"kind": "exact", "test": "t.py::t", "value": draw(json_values)}
    else:
        key = draw(st.sampled_from(sorted(data["entries"])))
        if how == "remove":
            del data["entries"][key]
        else:
            field = draw(st.sampled_from(["kind", "test", "value", "added"]))
            data["entries"][key][field] = draw(
                json_values if field != "kind" else st.text(max_size=8)
            )


def edit_provenance(data: dict[str, Any], draw: Callable[..., Any]) -> None:
    if data["provenance"] is None:
        data["provenance"] = PROVENANCE.to_json()
    else:
        field = draw(st.sampled_from(sorted(PROVENANCE_FIELDS)))
        data["provenance"][field] = draw(st.text(max_size=12))


@FUZZ
@given(entries=entry_maps, provenance=provenances, data=st.data())
def test_an_edit_without_a_new_checksum_is_refused(
    scratch: Path,
    entries: dict[str, Any],
    provenance: dict[str, Any] | None,
    data: st.DataObject,
) -> None:
    original = recorded(entries, provenance)
    edited = json.loads(json.dumps(original))
    edit = data.draw(st.sampled_from([edit_entries, edit_provenance]), label="edit")
    edit(edited, data.draw)
    assume(json.dumps(edited, sort_keys=True) != json.dumps(original, sort_keys=True))
    path = scratch / "local.json"
    path.write_text(dumps(edited), encoding="utf-8")

    assert "checksum mismatch" in refusal(path)


@FUZZ
@given(
    schema=st.integers(SCHEMA_VERSION + 1, 10**30),
    base=st.builds(recorded, entry_maps, provenances)
    | st.dictionaries(st.text(max_size=8), json_values),
    fix_checksum=st.booleans(),
)
def test_a_newer_schema_is_refused_saying_so(
    scratch: Path, schema: int, base: dict[str, Any], fix_checksum: bool
) -> None:
    data = {**base, "schema": schema}
    if fix_checksum:
        data["checksum"] = checksum(data)
    path = scratch / "local.json"
    path.write_text(dumps(data), encoding="utf-8")

    message = refusal(path)

    assert f"written by a newer prodval (baseline schema {schema})" in message
    assert f"this prodval reads schema {SCHEMA_VERSION}" in message


@FUZZ
@given(value=json_values)
def test_a_json_value_without_a_valid_checksum_is_refused(scratch: Path, value: Any) -> None:
    path = scratch / "local.json"
    path.write_text(json.dumps(value), encoding="utf-8")
    refusal(path)


@st.composite
def checksummed_objects(draw: st.DrawFn) -> dict[str, Any]:
    """A recorded baseline with one change anywhere in its structure, checksum recomputed."""
    data = recorded(draw(entry_maps), PROVENANCE.to_json())
    del data["checksum"]
    changes = ["none", "top", "drop", "extra", "entry", "provenance", "field", "drop field"]
    how = draw(st.sampled_from(changes))
    anything = json_values | st.sampled_from([1, 2, True, 1.0, "1", {}, []])
    if how == "top":
        data[draw(st.sampled_from(["schema", "provenance", "entries"]))] = draw(anything)
    elif how == "drop":
        del data[draw(st.sampled_from(["schema", "provenance", "entries"]))]
    elif how == "extra":
        data[draw(st.text(max_size=6))] = draw(anything)
    elif how == "entry":
        data["entries"][draw(st.text(max_size=6))] = draw(anything)
    elif how == "provenance":
        data["provenance"] = draw(st.dictionaries(st.text(max_size=4), anything, max_size=3))
    elif how == "field":
        data["provenance"][draw(st.sampled_from(sorted(PROVENANCE_FIELDS)))] = draw(anything)
    elif how == "drop field":
        del data["provenance"][draw(st.sampled_from(sorted(PROVENANCE_FIELDS)))]
    data["checksum"] = checksum(data)
    return data


def _finite(value: object) -> bool:
    return type(value) in (int, float) and math.isfinite(value)  # type: ignore[arg-type]


def _shape_ok(shape: object) -> bool:
    if isinstance(shape, str):
        return set(shape.split("|")) <= {"string", "integer", "number", "boolean", "null", "any"}
    if isinstance(shape, list):
        return len(shape) <= 1 and all(map(_shape_ok, shape))
    return isinstance(shape, dict) and all(
        isinstance(k, str) and _shape_ok(v) for k, v in shape.items()
    )


def entry_well_formed(entry: object) -> bool:
    """What a recording of each kind could have written (an oracle written apart from
    pytest_prodval/baseline/entries.py)."""
    if not isinstance(entry, dict) or any(
        name in entry and not isinstance(entry[name], str)
        for name in ("test", "environment", "unit", "control_name")
    ):
        return False
    kind = entry.get("kind")
    samples = entry.get("samples")
    return (
        (kind == "exact" and "value" in entry)
        or (kind == "number" and _finite(entry.get("value")))
        or (kind == "shape" and "shape" in entry and _shape_ok(entry["shape"]))
        or (
            kind == "distribution"
            and isinstance(samples, list)
            and bool(samples)
            and all(map(_finite, samples))
            and all(
                isinstance(entry[name], list)
                and bool(entry[name])
                and all(map(_finite, entry[name]))
                for name in ("windows", "control")
                if name in entry
            )
        )
    )


def well_formed(data: dict[str, Any]) -> bool:
    """What a recording could have written: the oracle for files with a matching checksum."""
    schema = data.get("schema")
    entries = data.get("entries")
    provenance = data.get("provenance")
    return (
        type(schema) is int
        and schema == SCHEMA_VERSION
        and set(data) <= TOP_LEVEL
        and isinstance(entries, dict)
        and all(entry_well_formed(e) for e in entries.values())
        and (
            provenance is None
            or (
                isinstance(provenance, dict)
                and set(provenance) == PROVENANCE_FIELDS
                and all(
                    isinstance(value, str) or (value is None and name in OPTIONAL_PROVENANCE)
                    for name, value in provenance.items()
                )
            )
        )
    )


@FUZZ_MORE
@given(data=checksummed_objects())
def test_a_file_with_a_matching_checksum_loads_only_if_well_formed(
    scratch: Path, data: dict[str, Any]
) -> None:
    # A tool (or a person) that recomputes the checksum still cannot smuggle in a malformed
    # file: what could not have been recorded is refused.
    path = scratch / "local.json"
    path.write_text(dumps(data), encoding="utf-8")

    loaded = load_baseline(path)

    assert isinstance(loaded, BaselineFile) is well_formed(data), loaded
    if isinstance(loaded, BaselineFile):
        assert_intact(loaded, {"provenance": None, **data})


@FUZZ
@given(data=st.binary(max_size=80))
def test_any_bytes_are_refused_with_one_line(scratch: Path, data: bytes) -> None:
    path = scratch / "local.json"
    path.write_bytes(data)
    refusal(path)


VALID_BASELINE = dumps(
    recorded({"t.py::t::x": {"kind": "exact", "test": "t.py::t", "value": 424242}}, None)
)


def baseline_with_value(value: str) -> bytes:
    """VALID_BASELINE with the entry's value written as ``value`` (checksum left alone)."""
    return VALID_BASELINE.replace("424242", value).encode("utf-8", "surrogateescape")


# Ten levels of ten aliases: 10**10 values once expanded; it used to hang the loader.
BILLION_LAUGHS = "a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]\n" for i in range(1, 10)
)


# Files no fuzzer finds by chance: each one used to end in a traceback (or a hang).
@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (baseline_with_value('"\udcff"'), "not valid UTF-8"),
        (baseline_with_value("NaN"), "NaN"),
        (baseline_with_value("-Infinity"), "-Infinity"),
        (baseline_with_value("1e999"), "1e999"),
        (baseline_with_value("9" * 5000), "not valid JSON"),
        (baseline_with_value("[" * 100_000 + "]" * 100_000), "nested too deeply"),
        (b"[" * 100_000, "nested too deeply"),
    ],
    ids=[
        "not-utf8",
        "nan",
        "minus-infinity",
        "float-overflow",
        "int-of-5000-digits",
        "deep-nesting",
        "deep-unclosed",
    ],
)
def test_a_baseline_no_recording_writes_is_refused_with_one_line(
    scratch: Path, content: bytes, expected: str
) -> None:
    path = scratch / "local.json"
    path.write_bytes(content)
    assert expected in refusal(path)


# ==============================================================================================
# Through pytest: what the user sees
# ==============================================================================================


def assert_usage_error(result: pytest.RunResult, *expected: str) -> None:
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    lines = [line for line in result.stderr.lines if line.strip()]
    assert len(lines) == 1, result.stderr.str()
    assert lines[0].startswith("ERROR: "), lines[0]
    for text in expected:
        assert text in lines[0], lines[0]
    assert "Traceback" not in result.stdout.str() + result.stderr.str()


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2020-13-45", "line 5, column 16: invalid YAML: cannot read '2020-13-45'"),
        ("!!int abc", "line 5, column 16: invalid YAML: cannot read 'abc'"),
        ("&t [*t]", "line 5, column 20: invalid YAML: recursive alias *t"),
    ],
    ids=["impossible-date", "int-tag-on-text", "recursive-alias"],
)
def test_a_yaml_value_python_cannot_build_is_a_usage_error(
    pytester: pytest.Pytester, write_config: Callable[[str], None], value: str, expected: str
) -> None:
    write_config(
        f"environments:\n  local:\n    api:\n      base_url: http://x\n      timeout: {value}\n"
    )
    pytester.makepyfile("def test_it(target):\n    pass\n")
    result = pytester.runpytest("--target-env=local")
    assert_usage_error(result, "ERROR: prodval.yaml: ", expected)


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"\xff" + VALID_BASELINE.encode(), "not valid UTF-8"),
        (baseline_with_value("1e999"), "1e999"),
    ],
    ids=["not-utf8", "float-overflow"],
)
def test_a_baseline_no_recording_writes_is_a_usage_error(
    project: pytest.Pytester, content: bytes, expected: str
) -> None:
    (project.path / "baselines").mkdir()
    (project.path / "baselines/local.json").write_bytes(content)
    project.makepyfile("def test_it(baseline):\n    pass\n")
    result = project.runpytest("--target-env=local")
    assert_usage_error(result, "baselines/local.json: ", expected)
