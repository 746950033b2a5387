"""Validation problems as one line: ``<file>: <key path>: expected ..., got ...``.

A location in the validated data is traced back to where it was written in the file (an
environment's own block or ``defaults``), and pydantic's wording is replaced by ours.
"""

from __future__ import annotations

import re
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Union

from pydantic import BaseModel, ValidationError
from pydantic.fields import FieldInfo
from pydantic_core import ErrorDetails

from ..errors import ConfigError
from ..safety.redaction import SECRET_KEY, Redactor
from .messages import MSG_MORE_PROBLEMS, _show
from .schema import _Expect

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

Loc = tuple[str | int, ...]
_ModelT = typing.TypeVar("_ModelT", bound=BaseModel)


# Filled in by environment._interpolate_block; it lives here because _validate reads it
# (environment imports this module, not the other way round).
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
    if _is_secret(loc):
        got = f"a value of type {type(error['input']).__name__} (not shown)"
    else:
        got = _show(error["input"], redactor)
    return loc, f"expected {expected}, got {got}"


def _is_secret(loc: Loc) -> bool:
    """A value at ``loc`` is secret: a credential, or under a secret-sounding key (params,
    api.headers) that no redactor knows when the value was written literally."""
    if loc and loc[-1] in _SECRET_KEYS:
        return True
    return any(isinstance(key, str) and SECRET_KEY.search(key) for key in loc[1:])


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
