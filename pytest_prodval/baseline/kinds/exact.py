"""The ``exact`` comparator: the target must equal the recorded JSON value.

Numbers compare by value (JSON does not tell 1 from 1.0), but a boolean never equals a
number, although Python says ``True == 1``.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterator
from typing import Any

from ..verdict import Entry, Status, Verdict
from .arguments import check_entry, check_options
from .display import cap_lines, child_path, compact_json, index_path, shorten

__all__ = ["ExactComparator", "to_json_value"]

_MAX_DIFF_LINES = 10
_MAX_DIFF_EVIDENCE = 100
_RULE = "equal to baseline"


def to_json_value(value: Any, path: str = "$") -> Any:
    """``value`` as plain JSON data (tuples become lists), or TypeError/ValueError naming where."""
    if value is None or isinstance(value, (str, bool)):
        return value
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        number = float(value)
        if not math.isfinite(number):
            raise ValueError(f"{path}: {number!r} has no JSON form")
        return number
    if isinstance(value, dict):
        result: dict[str, Any] = {}
        for key, item in value.items():
            # json.dumps would silently turn 1 into "1", and the target would never match.
            if not isinstance(key, str):
                raise TypeError(f"{path}: object keys must be str; got {type(key).__name__}")
            result[key] = to_json_value(item, child_path(path, key))
        return result
    if isinstance(value, (list, tuple)):
        return [to_json_value(item, index_path(path, i)) for i, item in enumerate(value)]
    raise TypeError(f"{path}: {type(value).__name__} is not JSON-serializable")


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    number = (int, float)
    if isinstance(a, number) and isinstance(b, number):
        return a == b
    return type(a) is type(b) and a == b


def _differences(base: Any, target: Any, path: str = "$") -> Iterator[str]:
    if isinstance(base, dict) and isinstance(target, dict):
        for key in base:
            sub = child_path(path, key)
            if key in target:
                yield from _differences(base[key], target[key], sub)
            else:
                yield f"{sub}: missing"
        for key in (k for k in target if k not in base):
            yield f"{child_path(path, key)}: unexpected {shorten(compact_json(target[key]))}"
    elif isinstance(base, list) and isinstance(target, list):
        for i, (x, y) in enumerate(zip(base, target, strict=False)):  # extras below
            yield from _differences(x, y, index_path(path, i))
        for i in range(len(target), len(base)):
            yield f"{index_path(path, i)}: missing"
        for i in range(len(base), len(target)):
            yield f"{index_path(path, i)}: unexpected {shorten(compact_json(target[i]))}"
    elif not _same(base, target):
        yield f"{path}: {shorten(compact_json(base))} -> {shorten(compact_json(target))}"


class ExactComparator:
    kind: str = "exact"

    def record(self, key: str, value: Any, **options: Any) -> tuple[Entry, Verdict]:
        check_options(self.kind, options, ())
        data = to_json_value(value)
        shown = shorten(compact_json(data))
        verdict = Verdict(
            key=key,
            kind=self.kind,
            status=Status.RECORDED,
            rule=_RULE,
            baseline=shown,
            target=shown,
            change="",
            message=f"{key}: recorded {shown}",
            evidence={"baseline": data},
        )
        return {"kind": self.kind, "value": data}, verdict

    def compare(self, key: str, entry: Entry, value: Any, **options: Any) -> Verdict:
        check_options(self.kind, options, ())
        check_entry(self.kind, key, entry)
        base = entry["value"]
        target = to_json_value(value)
        diffs = list(_differences(base, target))
        base_text, target_text = compact_json(base), compact_json(target)
        if not diffs:
            status, change, message = Status.PASSED, "same", f"{key}: equal to baseline"
        else:
            status = Status.FAILED
            change = "1 difference" if len(diffs) == 1 else f"{len(diffs)} differences"
            message = "\n".join(
                [
                    f"{key}: differs from baseline ({change})",
                    f"  baseline: {shorten(base_text, 200)}",
                    f"  target:   {shorten(target_text, 200)}",
                    "  differences (baseline -> target):",
                    *cap_lines(diffs, _MAX_DIFF_LINES, indent="    "),
                ]
            )
        return Verdict(
            key=key,
            kind=self.kind,
            status=status,
            rule=_RULE,
            baseline=shorten(base_text),
            target=shorten(target_text),
            change=change,
            message=message,
            evidence={
                "baseline": base,
                "target": target,
                "differences": diffs[:_MAX_DIFF_EVIDENCE],
                "difference_count": len(diffs),
            },
        )
