"""YAML loading that remembers where every node came from, so errors can name the line.

One pass reports everything: structural mistakes (unknown keys, wrong types, unknown metric kinds) are
reported, then set aside — a misspelt key dropped, an invalid choice replaced by a valid one, a missing name
stood in for, a broken node removed — until the rest parses; the reference checks then run on that rest. Names
the file declares but whose definitions are broken still count as known, so one broken field or metric is
reported once, not again at every place that names it.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from strix_config.access import access_problems
from strix_config.errors import ConfigProblem
from strix_config.metrics import METRIC_KINDS
from strix_config.model import WHERE_TAGS, ModuleConfig
from strix_config.references import Declared, check_module

YamlPath = tuple[str | int, ...]
Lines = dict[YamlPath, int]

_STR_TAG = "tag:yaml.org,2002:str"
_NULL_TAG = "tag:yaml.org,2002:null"


@dataclass
class _Source:
    """What the YAML text says about itself besides the data: lines, and two mistakes YAML hides."""

    lines: Lines = field(default_factory=dict)
    # Keys YAML read as something other than a string (`on:` is the boolean true): path -> problem.
    odd_keys: dict[YamlPath, str] = field(default_factory=dict)
    # Keys with no value after a comma in a flow mapping: path -> (line of the comma, problem).
    comma_keys: dict[YamlPath, tuple[int, str]] = field(default_factory=dict)


def _odd_key_message(key: yaml.ScalarNode, path: YamlPath) -> str:
    read_as = {
        "tag:yaml.org,2002:bool": "a boolean",
        "tag:yaml.org,2002:int": "a number",
        "tag:yaml.org,2002:float": "a number",
        _NULL_TAG: "null",
        "tag:yaml.org,2002:timestamp": "a date",
    }.get(key.tag, "a non-string value")
    message = (
        f"YAML reads the unquoted key {key.value!r} as {read_as}, not as a name; keys must be strings: "
        f"quote it ('{key.value}': ...)"
    )
    if len(path) == 3 and path[0] == "joins" and key.value.lower() == "on":
        message += " (a join lists its dimension pairs under `match:`, such as match: {country: country})"
    return message


def _comma_before(text: str, key: yaml.ScalarNode) -> tuple[int, int] | None:
    """(line, column) of the comma just before a key in a flow mapping, both from 1."""
    index = key.start_mark.index - 1
    while index >= 0 and text[index] in " \t\r\n":
        index -= 1
    if index < 0 or text[index] != ",":
        return None
    line = text.count("\n", 0, index) + 1
    return line, index - (text.rfind("\n", 0, index) + 1) + 1


def _read_source(node: yaml.Node, path: YamlPath, text: str, source: _Source) -> None:
    source.lines[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        previous: str | None = None
        for key, value in node.value:
            name = key.value if isinstance(key, yaml.ScalarNode) else str(key.start_mark)
            here = (*path, name)
            if isinstance(key, yaml.ScalarNode) and key.tag != _STR_TAG:
                source.odd_keys[here] = _odd_key_message(key, here)
            bare = isinstance(value, yaml.ScalarNode) and value.tag == _NULL_TAG and value.value == ""
            if node.flow_style and bare and previous is not None:
                comma = _comma_before(text, key)
                if comma is not None and not text[key.end_mark.index :].lstrip(" \t").startswith(":"):
                    line, column = comma
                    source.comma_keys[here] = (
                        line,
                        f"{name!r} is not a key: the comma at line {line}, column {column} ends the unquoted value "
                        f'of `{previous}`; quote that value to keep the comma, as {previous}: "..., {name}"',
                    )
            _read_source(value, here, text, source)
            source.lines[here] = key.start_mark.line + 1
            previous = name
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _read_source(item, (*path, i), text, source)


class _TextKeysLoader(yaml.SafeLoader):
    """SafeLoader that keeps a non-string key as the text written (reported apart), so the rest still loads."""


def _construct_mapping(loader: yaml.SafeLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    loader.flatten_mapping(node)
    result: dict[Any, Any] = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        if not isinstance(key, str) and isinstance(key_node, yaml.ScalarNode):
            key = key_node.value
        if not isinstance(key, str):
            key = str(key)
        result[key] = loader.construct_object(value_node, deep=True)
    return result


_TextKeysLoader.add_constructor("tag:yaml.org,2002:map", _construct_mapping)


def _line_for(path: YamlPath, lines: Lines) -> int | None:
    """The line of the deepest part of `path` that exists in the file."""
    for end in range(len(path), -1, -1):
        if path[:end] in lines:
            return lines[path[:end]]
    return None


def _render_path(path: YamlPath) -> str:
    return ".".join(str(p) for p in path)


@dataclass(frozen=True)
class ModuleFile:
    """One config file as read: its module when it has no problems, every problem, and what it declares even
    when broken (its name and dimensions), so modules joining it are checked against that, not told it is
    unknown."""

    file: str
    config: ModuleConfig | None
    problems: list[ConfigProblem]
    name: str | None = None
    dimensions: frozenset[str] | None = None
    lines: Lines = field(default_factory=dict)

    def line_for(self, path: YamlPath) -> int | None:
        return _line_for(path, self.lines)


def _names(data: Any, *path: str) -> frozenset[str] | None:
    """Keys of the mapping at `path` in the raw data; None when that part is not a mapping (anything goes)."""
    node = data
    for key in path:
        node = node.get(key) if isinstance(node, dict) else None
    return frozenset(k for k in node if isinstance(k, str)) if isinstance(node, dict) else None


# Required sections that cannot be removed: when broken, a stand-in lets the rest of the file be checked (its
# problems are reported at the section, so nothing is reported against the stand-in itself).
_STAND_IN_NAME = "x_stand_in_"
_STAND_INS: dict[YamlPath, Any] = {
    ("event",): {"time_field": _STAND_IN_NAME, "fields": {_STAND_IN_NAME: {"type": "datetime"}}},
    ("event", "fields"): {_STAND_IN_NAME: {"type": "datetime"}},
    ("dimensions",): {},
    ("metrics",): {_STAND_IN_NAME: {"kind": "count"}},
}
_LITERAL = re.compile(r"'([^']*)'")


def _get(data: Any, path: YamlPath) -> Any:
    node = data
    for key in path:
        try:
            node = node[key]
        except (KeyError, IndexError, TypeError):
            return None
    return node


def _set(data: Any, path: YamlPath, value: Any) -> bool:
    parent = _get(data, path[:-1])
    if isinstance(parent, dict):
        parent[path[-1]] = value
        return True
    return False


def _set_aside(candidate: Any, err: Any, loc: YamlPath, attempts: dict[tuple[YamlPath, str], int]) -> bool:
    """Change the candidate so that `err` no longer stops validation; True if something changed.

    In order of preference, so as much of the file as possible stays to be checked: drop an unknown key; replace
    an invalid choice with a valid one; stand in for a missing name; stand in for a broken required section;
    remove the broken node (or its parent)."""
    kind = err["type"]
    target = loc[:-1] if kind == "missing" else loc
    tries = attempts.get((loc, kind), 0)
    attempts[(loc, kind)] = tries + 1
    if tries >= 3 or not loc:
        return False
    if kind == "extra_forbidden":
        return _prune(candidate, loc)
    # A field's type is not guessed: another type would raise problems the file does not have. The field is
    # removed instead, and references to it stay quiet (it is declared).
    guessable = not (len(loc) == 4 and loc[:2] == ("event", "fields") and loc[3] == "type")
    if kind == "literal_error" and tries < 2 and guessable:
        choices = _LITERAL.findall(str(err.get("ctx", {}).get("expected", "")))
        if choices and _set(candidate, loc, choices[0]):
            return True
    if loc in _STAND_INS and tries < 2:
        return _set(candidate, loc, copy.deepcopy(_STAND_INS[loc]))
    if kind == "missing" and tries == 0:
        return _set(candidate, loc, _STAND_IN_NAME)
    return _prune(candidate, target)


def inspect_module(text: str, file: str) -> ModuleFile:
    """Read one module config: the module, or every problem found, each with its line."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data: Any = yaml.load(text, Loader=_TextKeysLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        return ModuleFile(
            file, None, [ConfigProblem(file, line, "", f"not valid YAML: {getattr(exc, 'problem', exc)}")]
        )
    if not isinstance(data, dict) or node is None:
        message = "a module config is a YAML mapping (module:, event:, metrics:, ...)"
        return ModuleFile(file, None, [ConfigProblem(file, 1, "", message)])
    source = _Source()
    _read_source(node, (), text, source)
    lines = source.lines
    problems: list[ConfigProblem] = []
    reported: list[YamlPath] = []
    for path, message in source.odd_keys.items():
        reported.append(path)
        problems.append(ConfigProblem(file, _line_for(path, lines), _render_path(path), message))
    candidate: Any = copy.deepcopy(data)
    config: ModuleConfig | None = None
    attempts: dict[tuple[YamlPath, str], int] = {}
    for round_ in range(_MAX_ROUNDS):
        try:
            config = ModuleConfig.model_validate(candidate)
            break
        except ValidationError as exc:
            changed = False
            for err in exc.errors():
                loc = _without_union_tag(tuple(err["loc"]))
                # A node that only fails because an earlier round set a broken part of it aside is not a new
                # problem (a condition left empty once its misspelt operator was dropped).
                echo = round_ > 0 and any(r[: len(loc)] == loc for r in reported)
                if not echo and not any(loc[: len(r)] == r for r in reported):
                    reported.append(loc)
                    line = _line_for(loc, lines)
                    message = _hint(err)
                    if err["type"] == "extra_forbidden" and loc in source.comma_keys:
                        line, message = source.comma_keys[loc]
                    problems.append(ConfigProblem(file, line, _render_path(loc), message))
                changed = _set_aside(candidate, err, loc, attempts) or changed
            if not changed:
                break
    if config is not None:
        # Broken parts were set aside so the references of the rest are still checked; names the file declares
        # count as known even when their definitions are broken (they are reported where they are defined).
        declared = Declared(
            fields=_names(data, "event", "fields"),
            dimensions=_names(data, "dimensions"),
            metrics=_names(data, "metrics"),
        )
        for path, message in [*check_module(config, declared), *access_problems(config, declared.dimensions)]:
            if not any(path[: len(r)] == r for r in reported):
                problems.append(ConfigProblem(file, _line_for(path, lines), _render_path(path), message))
    name = data.get("module")
    return ModuleFile(
        file=file,
        config=config if not problems else None,
        problems=problems,
        name=name if isinstance(name, str) else None,
        dimensions=_names(data, "dimensions"),
        lines=lines,
    )


def parse_module(text: str, file: str) -> tuple[ModuleConfig | None, list[ConfigProblem]]:
    """Parse one module config; return it or every problem found, each with its line."""
    parsed = inspect_module(text, file)
    return parsed.config, parsed.problems


_MAX_ROUNDS = 12


def _hint(err: Any) -> str:
    if err["type"] == "extra_forbidden":
        return "unknown key; check its spelling against configs/schema.json"
    if err["type"] == "union_tag_invalid":
        return f"unknown metric kind; use one of {', '.join(sorted(_KIND_TAGS))}"
    return str(err["msg"]).removeprefix("Value error, ")


def _prune(data: Any, loc: YamlPath) -> bool:
    """Remove the node at `loc` (or its parent, when the node itself cannot be found); True if removed. A
    required section removed is missing in the next round, and stood in for then."""
    for end in (len(loc), len(loc) - 1):
        if end < 1:
            return False
        parent: Any = _get(data, loc[: end - 1])
        last = loc[end - 1]
        if isinstance(parent, dict) and last in parent:
            del parent[last]
            return True
        if isinstance(parent, list) and isinstance(last, int) and last < len(parent):
            del parent[last]
            return True
    return False


_KIND_TAGS = frozenset(METRIC_KINDS)


def _without_union_tag(loc: YamlPath) -> YamlPath:
    """pydantic puts the metric kind in the location (metrics.revenue.sum.field); the file has no such key."""
    if len(loc) >= 3 and loc[0] == "metrics" and loc[2] in _KIND_TAGS:
        loc = (*loc[:2], *loc[3:])
    # ... and the form of a `where` condition (metrics.paid.where.country.operators.nq).
    if len(loc) >= 5 and loc[0] == "metrics" and loc[2] == "where" and loc[4] in WHERE_TAGS:
        loc = (*loc[:4], *loc[5:])
    return loc


def read_module_file(path: Path) -> ModuleFile:
    return inspect_module(path.read_text(encoding="utf-8"), str(path))


def read_module(path: Path) -> tuple[ModuleConfig | None, list[ConfigProblem]]:
    parsed = read_module_file(path)
    return parsed.config, parsed.problems
