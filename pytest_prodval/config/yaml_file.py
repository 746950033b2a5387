"""Reading ``prodval.yaml`` into plain data: file errors, YAML errors with a position, size limits.

``_Loader`` is PyYAML's SafeLoader made strict (duplicate keys, recursive aliases, values
Python cannot build are errors).
"""

from __future__ import annotations

import typing
from pathlib import Path
from typing import Any

import yaml

from ..errors import ConfigError
from .messages import (
    MSG_CANNOT_BUILD,
    MSG_EMPTY,
    MSG_FILE_NOT_FOUND,
    MSG_INVALID_YAML,
    MSG_NOT_UTF8,
    MSG_RECURSIVE_ALIAS,
    MSG_TOO_LARGE,
    MSG_TOP_NOT_MAPPING,
    MSG_UNREADABLE,
    _show,
)

# Far above any real config (tens to hundreds of values), far below what hangs the loader.
MAX_VALUES = 100_000


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
    if _expanded_size(data) > MAX_VALUES:
        raise ConfigError(f"{path}: " + MSG_TOO_LARGE.format(limit=MAX_VALUES))
    return data


def _expanded_size(data: Any) -> int:
    """Values in ``data`` with every alias expanded, counted up to just past ``MAX_VALUES``.

    Aliases share one node after parsing, but interpolation and validation copy them: ten
    levels of ten aliases each (a "billion laughs" file) would otherwise run for ever.
    """
    count, stack = 0, [data]
    while stack and count <= MAX_VALUES:
        value = stack.pop()
        count += 1
        if isinstance(value, dict):
            stack.extend(value.values())
        elif isinstance(value, list):
            stack.extend(value)
    return count


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
