"""YAML loading that remembers where every node came from, so errors can name the line."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from strix_config.errors import ConfigProblem
from strix_config.model import WHERE_TAGS, ModuleConfig
from strix_config.references import check_module

Lines = dict[tuple[str | int, ...], int]


def _index_lines(node: yaml.Node, path: tuple[str | int, ...], lines: Lines) -> None:
    lines[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            name = key.value
            lines[(*path, name)] = key.start_mark.line + 1
            _index_lines(value, (*path, name), lines)
            lines[(*path, name)] = key.start_mark.line + 1
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _index_lines(item, (*path, i), lines)


def _line_for(path: tuple[str | int, ...], lines: Lines) -> int | None:
    """The line of the deepest part of `path` that exists in the file."""
    for end in range(len(path), -1, -1):
        if path[:end] in lines:
            return lines[path[:end]]
    return None


def _render_path(path: tuple[str | int, ...]) -> str:
    return ".".join(str(p) for p in path)


def parse_module(text: str, file: str) -> tuple[ModuleConfig | None, list[ConfigProblem]]:
    """Parse one module config; return it or every problem found, each with its line."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data: Any = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        return None, [ConfigProblem(file, line, "", f"not valid YAML: {getattr(exc, 'problem', exc)}")]
    if not isinstance(data, dict) or node is None:
        return None, [ConfigProblem(file, 1, "", "a module config is a YAML mapping (module:, event:, metrics:, ...)")]
    lines: Lines = {}
    _index_lines(node, (), lines)
    problems: list[ConfigProblem] = []
    reported: list[tuple[str | int, ...]] = []
    candidate: Any = copy.deepcopy(data)
    config: ModuleConfig | None = None
    for round_ in range(_MAX_PRUNES):
        try:
            config = ModuleConfig.model_validate(candidate)
            break
        except ValidationError as exc:
            pruned = False
            for err in exc.errors():
                loc = _without_union_tag(tuple(err["loc"]))
                # A node that only fails because an earlier round set a broken part of it aside is not a new
                # problem (a condition left empty once its misspelt operator was dropped).
                echo = round_ > 0 and any(r[: len(loc)] == loc for r in reported)
                if not echo and not any(loc[: len(r)] == r for r in reported):
                    reported.append(loc)
                    problems.append(ConfigProblem(file, _line_for(loc, lines), _render_path(loc), _hint(err)))
                if len(loc) == 1 and isinstance(candidate, dict):
                    # Top level: drop an unknown key; stand in for a missing name, so the rest is checked.
                    if err["type"] == "extra_forbidden":
                        candidate.pop(loc[0], None)
                    elif err["type"] == "missing":
                        candidate[loc[0]] = "x"
                    else:
                        continue
                    pruned = True
                else:
                    target = loc[:-1] if err["type"] == "missing" else loc
                    pruned = _prune(candidate, target) or pruned
            if not pruned:
                break
    if config is not None:
        # Structurally broken parts were set aside so the references of the rest are still checked.
        for path, message in check_module(config):
            if not any(path[: len(r)] == r for r in reported):
                problems.append(ConfigProblem(file, _line_for(path, lines), _render_path(path), message))
    return (config if not problems else None), problems


_MAX_PRUNES = 8


def _hint(err: Any) -> str:
    if err["type"] == "extra_forbidden":
        return "unknown key; check its spelling against configs/schema.json"
    if err["type"] == "union_tag_invalid":
        return f"unknown metric kind; use one of {', '.join(sorted(_KIND_TAGS))}"
    return str(err["msg"]).removeprefix("Value error, ")


def _prune(data: Any, loc: tuple[str | int, ...]) -> bool:
    """Remove the node at `loc` (or its parent, when the node itself is what is missing); True if removed."""
    for end in (len(loc), len(loc) - 1):
        if end < 2:  # never remove a top-level section: the module could not be read at all
            return False
        parent: Any = data
        for key in loc[: end - 1]:
            try:
                parent = parent[key]
            except (KeyError, IndexError, TypeError):
                parent = None
                break
        last = loc[end - 1]
        if isinstance(parent, dict) and last in parent:
            del parent[last]
            return True
        if isinstance(parent, list) and isinstance(last, int) and last < len(parent):
            del parent[last]
            return True
    return False


_KIND_TAGS = {"count", "sum", "min", "max", "avg", "uniq", "uniq_exact", "quantile", "ratio"}


def _without_union_tag(loc: tuple[str | int, ...]) -> tuple[str | int, ...]:
    """pydantic puts the metric kind in the location (metrics.revenue.sum.field); the file has no such key."""
    if len(loc) >= 3 and loc[0] == "metrics" and loc[2] in _KIND_TAGS:
        loc = (*loc[:2], *loc[3:])
    # ... and the form of a `where` condition (metrics.paid.where.country.operators.nq).
    if len(loc) >= 5 and loc[0] == "metrics" and loc[2] == "where" and loc[4] in WHERE_TAGS:
        loc = (*loc[:4], *loc[5:])
    return loc


def read_module(path: Path) -> tuple[ModuleConfig | None, list[ConfigProblem]]:
    return parse_module(path.read_text(encoding="utf-8"), str(path))
