"""The ``shape`` comparator: the target must have the JSON structure of the baseline.

Values are ignored; only types and keys count. A shape is itself JSON, so it reviews well
in git:

* a scalar is its type name: ``"string"``, ``"integer"``, ``"number"``, ``"boolean"``,
  ``"null"``; a mix seen across array elements is a union like ``"string|null"``, and
  ``"any"`` accepts everything (e.g. objects mixed with strings);
* an object is ``{key: shape}``; a key ending in ``?`` may be absent or null (a literal
  trailing ``?`` or ``\\`` in a key name is escaped with one more ``\\``);
* an array is ``[element shape]``, the merge of all its elements (a key missing from some
  elements becomes optional); ``[]`` is an array of anything.

An integer is accepted where the baseline says number, not the other way round.
"""

from __future__ import annotations

import dataclasses
import re
from collections import Counter
from collections.abc import Iterable, Iterator
from typing import Any, TypeAlias

from ..verdict import Entry, Status, Verdict
from .arguments import check_entry, check_options
from .display import cap_lines, child_path, compact_json, index_path, shorten
from .exact import to_json_value

__all__ = ["Shape", "ShapeComparator", "merge_shapes", "shape_of"]

Shape: TypeAlias = "str | list[Shape] | dict[str, Shape]"

_OPTIONS = ("optional", "allow_extra")
_MAX_LINES = 15
_MAX_EVIDENCE = 100
_ANY = "any"
_NULL = "null"
_SCALARS = ("string", "integer", "number", "boolean", _NULL)
_INDEX = re.compile(r"\[(?:\d+|\*)\]")


def _type_name(value: Any) -> str:
    if value is None:
        return _NULL
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "object" if isinstance(value, dict) else "array"


def _encode(name: str, optional: bool) -> str:
    if name.endswith(("?", "\\")):
        name += "\\"
    return name + "?" if optional else name


def _decode(stored: str) -> tuple[str, bool]:
    optional = stored.endswith("?")
    name = stored[:-1] if optional else stored
    return (name[:-1] if name.endswith("\\") else name), optional


def shape_of(value: Any, optional: frozenset[str] = frozenset(), path: str = "$") -> Shape:
    """The shape of plain JSON ``value``; keys at ``optional`` paths are marked optional."""
    if isinstance(value, dict):
        return {
            _encode(k, child_path(path, k) in optional): shape_of(v, optional, child_path(path, k))
            for k, v in value.items()
        }
    if isinstance(value, list):
        element = index_path(path, None)
        shapes = [shape_of(v, optional, element) for v in value]
        if not shapes:
            return []
        merged = shapes[0]
        for shape in shapes[1:]:
            merged = merge_shapes(merged, shape)
        return [merged]
    return _type_name(value)


def merge_shapes(a: Shape, b: Shape) -> Shape:
    """The loosest shape both ``a`` and ``b`` satisfy, as learned from array elements."""
    if a == b:
        return a
    if isinstance(a, str) and isinstance(b, str):
        if _ANY in (a, b):
            return _ANY
        types = set(a.split("|")) | set(b.split("|"))
        if "number" in types:
            types.discard("integer")
        return "|".join(t for t in _SCALARS if t in types)
    if isinstance(a, list) and isinstance(b, list):
        if not a or not b:
            return a or b
        return [merge_shapes(a[0], b[0])]
    if isinstance(a, dict) and isinstance(b, dict):
        return _merge_objects(a, b)
    return _ANY  # e.g. object vs string, or a nullable array element: not worth modelling


def _members(obj: dict[str, Shape]) -> dict[str, tuple[bool, Shape]]:
    members: dict[str, tuple[bool, Shape]] = {}
    for stored, shape in obj.items():
        name, optional = _decode(stored)
        members[name] = (optional, shape)
    return members


def _merge_objects(a: dict[str, Shape], b: dict[str, Shape]) -> dict[str, Shape]:
    members_a, members_b = _members(a), _members(b)
    merged: dict[str, Shape] = {}
    for name in [*members_a, *(n for n in members_b if n not in members_a)]:
        if name not in members_a or name not in members_b:
            _, shape = members_a.get(name) or members_b[name]
            merged[_encode(name, True)] = shape
            continue
        (optional_a, shape_a), (optional_b, shape_b) = members_a[name], members_b[name]
        if _NULL in (shape_a, shape_b) and not (
            isinstance(shape_a, str) and isinstance(shape_b, str)
        ):
            # An object or array that is sometimes null: keep its structure, make it optional.
            merged[_encode(name, True)] = shape_b if shape_a == _NULL else shape_a
        else:
            merged[_encode(name, optional_a or optional_b)] = merge_shapes(shape_a, shape_b)
    return merged


@dataclasses.dataclass(frozen=True)
class _Difference:
    generic: str  # $.items[].id: groups the same problem in many elements
    concrete: str  # $.items[3].id: where to look first
    problem: str


@dataclasses.dataclass(frozen=True)
class _Rules:
    optional: frozenset[str]
    allow_extra: bool

    @classmethod
    def parse(cls, options: dict[str, Any]) -> _Rules:
        check_options("shape", options, _OPTIONS)
        allow_extra = options.get("allow_extra", False)
        if not isinstance(allow_extra, bool):
            raise TypeError(f"allow_extra must be a bool; got {type(allow_extra).__name__}")
        return cls(_optional_paths(options.get("optional", ())), allow_extra)

    def describe(self, list_optional: bool = True) -> str:
        parts = ["same shape as baseline"]
        if self.allow_extra:
            parts.append("extra keys allowed")
        if self.optional and list_optional:
            parts.append("optional: " + ", ".join(sorted(self.optional)))
        elif self.optional:
            # The failure message names only what is wrong; the paths are in the rule column.
            count = len(self.optional)
            parts.append(f"{count} optional path{'s' if count > 1 else ''}")
        return "; ".join(parts)

    def check(
        self, expected: Shape, value: Any, generic: str, concrete: str, optional: bool = False
    ) -> Iterator[_Difference]:
        optional = optional or generic in self.optional
        if value is None and optional:
            return
        if expected == _ANY or (expected == _NULL and optional):
            return  # the baseline never saw a real value here: nothing to hold it to
        found = _type_name(value)
        if isinstance(expected, str):
            allowed = expected.split("|")
            if found not in allowed and not (found == "integer" and "number" in allowed):
                yield _Difference(generic, concrete, f"expected {expected}, got {found}")
        elif isinstance(expected, list):
            if not isinstance(value, list):
                yield _Difference(generic, concrete, f"expected array, got {found}")
            elif expected:
                element = index_path(generic, None)
                for i, item in enumerate(value):
                    yield from self.check(expected[0], item, element, index_path(concrete, i))
        elif not isinstance(value, dict):
            yield _Difference(generic, concrete, f"expected object, got {found}")
        else:
            yield from self._check_object(expected, value, generic, concrete)

    def _check_object(
        self, expected: dict[str, Shape], value: dict[str, Any], generic: str, concrete: str
    ) -> Iterator[_Difference]:
        known = set()
        for stored, shape in expected.items():
            name, optional = _decode(stored)
            known.add(name)
            sub_generic, sub_concrete = child_path(generic, name), child_path(concrete, name)
            if name in value:
                yield from self.check(shape, value[name], sub_generic, sub_concrete, optional)
            elif not (optional or sub_generic in self.optional):
                yield _Difference(sub_generic, sub_concrete, "missing key")
        for name in value:
            sub_generic = child_path(generic, name)
            if name in known or self.allow_extra or sub_generic in self.optional:
                continue
            yield _Difference(sub_generic, child_path(concrete, name), "unexpected key")


def _optional_paths(value: object) -> frozenset[str]:
    paths = [value] if isinstance(value, str) else value
    if not isinstance(paths, Iterable):
        raise TypeError(f"optional must be an iterable of paths; got {type(value).__name__}")
    result = set()
    for path in paths:
        if not isinstance(path, str) or not path.startswith("$"):
            raise ValueError(
                f"optional paths look like '$.meta.next' or '$.items[].note'; got {path!r}"
            )
        # Any index means every element: $.items[0].note and $.items[*].note are $.items[].note.
        result.add(_INDEX.sub("[]", path))
    return frozenset(result)


def _render(differences: list[_Difference]) -> list[str]:
    groups = Counter((d.generic, d.problem) for d in differences)
    first: dict[tuple[str, str], str] = {}
    for d in differences:
        first.setdefault((d.generic, d.problem), d.concrete)
    lines = []
    for (generic, problem), count in groups.items():
        if count == 1:
            lines.append(f"{first[generic, problem]}: {problem}")
        else:
            lines.append(
                f"{generic}: {problem} ({count} times, first at {first[generic, problem]})"
            )
    return lines


class ShapeComparator:
    kind: str = "shape"

    def record(self, key: str, value: Any, **options: Any) -> tuple[Entry, Verdict]:
        rules = _Rules.parse(options)
        shape = shape_of(to_json_value(value), rules.optional)
        shown = shorten(compact_json(shape))
        verdict = Verdict(
            key=key,
            kind=self.kind,
            status=Status.RECORDED,
            rule=rules.describe(),
            baseline=shown,
            target=shown,
            change="",
            message=f"{key}: recorded shape {shown}",
            evidence={"baseline_shape": shape},
        )
        return {"kind": self.kind, "shape": shape}, verdict

    def compare(self, key: str, entry: Entry, value: Any, **options: Any) -> Verdict:
        rules = _Rules.parse(options)
        check_entry(self.kind, key, entry)
        expected: Shape = entry["shape"]
        target = to_json_value(value)
        lines = _render(list(rules.check(expected, target, "$", "$")))
        target_shape = shape_of(target)
        if lines:
            change = "1 difference" if len(lines) == 1 else f"{len(lines)} differences"
            message = "\n".join(
                [
                    f"{key}: shape differs from baseline ({change})",
                    *cap_lines(lines, _MAX_LINES),
                    f"  rule: {rules.describe(list_optional=False)}",
                ]
            )
        else:
            change, message = "same shape", f"{key}: same shape as baseline"
        return Verdict(
            key=key,
            kind=self.kind,
            status=Status.FAILED if lines else Status.PASSED,
            rule=rules.describe(),
            baseline=shorten(compact_json(expected)),
            target=shorten(compact_json(target_shape)),
            change=change,
            message=message,
            evidence={
                "differences": lines[:_MAX_EVIDENCE],
                "difference_count": len(lines),
                "baseline_shape": expected,
                "target_shape": target_shape,
                "optional": sorted(rules.optional),
                "allow_extra": rules.allow_extra,
            },
        )
