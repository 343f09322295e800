"""The `access` section of a module config: located load errors, and the pure rules over a caller (who reads,
who writes, which rows)."""

from __future__ import annotations

from typing import Any

import pytest

from strix_config import ModuleConfig
from strix_config.access import RowCondition, access_problems, may_read, may_write, row_filters
from strix_config.loader import parse_module
from strix_contracts.caller import Caller

BASE = """\
module: games
event:
  time_field: ts
  fields:
    ts: {type: datetime}
    brand: {type: string}
    studio: {type: int}
    live: {type: bool}
    stake: {type: decimal}
partition_by: brand
dimensions:
  brand: {}
  studio_id: {field: studio}
  live: {}
metrics:
  rounds: {kind: count}
  stakes: {kind: sum, field: stake}
"""

ACCESS = """\
access:
  read: [analyst, operator]
  write: [producer]
  rows:
    - roles: [operator]
      dimension: brand
      attribute: brand
    - roles: [studio-lead]
      dimension: studio_id
      attribute: studio
"""


def load(text: str) -> ModuleConfig:
    config, problems = parse_module(text, "games.yaml")
    assert not problems, [p.render() for p in problems]
    assert config is not None
    return config


def problems_of(text: str) -> list[tuple[int | None, str, str]]:
    config, problems = parse_module(text, "games.yaml")
    assert config is None
    return [(p.line, p.path, p.message) for p in problems]


def caller(kind: Any = "user", **fields: Any) -> Caller:
    return Caller(subject="someone", kind=kind, **fields)


GAMES = load(BASE + ACCESS)
OPEN = load(BASE)


def test_absent_access_admits_any_caller_with_the_scope() -> None:
    assert OPEN.access.read is None and OPEN.access.write is None and OPEN.access.rows == []
    assert may_read(OPEN, caller(scopes=("read",)))
    assert may_read(OPEN, caller(scopes=("read:games",)))
    assert not may_read(OPEN, caller(scopes=("read:other",)))
    assert not may_read(OPEN, caller(scopes=("write",)))  # writing is not reading
    assert may_write(OPEN, caller(scopes=("write",)))
    assert not may_write(OPEN, caller(scopes=("read",)))
    assert row_filters(OPEN, caller(scopes=("read",))) == []


def test_scopes_and_roles_must_both_admit_the_reader() -> None:
    assert may_read(GAMES, caller(scopes=("read",), roles=("analyst",)))
    assert may_read(GAMES, caller(scopes=("read:games",), roles=("operator", "other")))
    assert not may_read(GAMES, caller(scopes=("read",), roles=("producer",)))  # role not listed
    assert not may_read(GAMES, caller(scopes=("read",)))  # no role at all
    assert not may_read(GAMES, caller(scopes=("write",), roles=("analyst",)))  # role, but no read scope
    assert not may_read(GAMES, caller(scopes=("read:other",), roles=("analyst",)))


def test_writing_needs_the_write_scope_and_a_writer_role() -> None:
    assert may_write(GAMES, caller(scopes=("write",), roles=("producer",)))
    assert not may_write(GAMES, caller(scopes=("write",), roles=("analyst",)))
    assert not may_write(GAMES, caller(scopes=("read",), roles=("producer",)))


def test_admin_bypasses_roles_and_row_filters() -> None:
    admin = caller(scopes=("admin",), roles=("operator",))  # an operator role, but no brand attribute
    assert may_read(GAMES, admin) and may_write(GAMES, admin)
    assert row_filters(GAMES, admin) == []


def test_an_empty_role_list_admits_only_admins() -> None:
    closed = load(BASE + "access: {read: [], write: []}\n")
    assert not may_read(closed, caller(scopes=("read",), roles=("analyst",)))
    assert not may_write(closed, caller(scopes=("write",), roles=("producer",)))
    assert may_read(closed, caller(scopes=("admin",)))


def test_a_public_link_reads_only_the_modules_its_scopes_name() -> None:
    assert may_read(OPEN, caller("public_link", scopes=("read:games",), dashboard="d1"))
    assert not may_read(OPEN, caller("public_link", scopes=("read",), dashboard="d1"))  # no blanket read
    assert not may_read(OPEN, caller("public_link", scopes=("read:other",), dashboard="d1"))
    assert not may_write(OPEN, caller("public_link", scopes=("read:games", "write"), dashboard="d1"))
    # The module's roles still apply to a link.
    assert not may_read(GAMES, caller("public_link", scopes=("read:games",), dashboard="d1"))
    assert may_read(GAMES, caller("public_link", scopes=("read:games",), roles=("analyst",), dashboard="d1"))


def test_row_filters_bind_the_callers_attribute_values() -> None:
    operator = caller(scopes=("read",), roles=("operator",), attributes={"brand": ("acme", "zenith", "acme")})
    assert row_filters(GAMES, operator) == [RowCondition("brand", ("acme", "zenith"))]
    analyst = caller(scopes=("read",), roles=("analyst",), attributes={"brand": ("acme",)})
    assert row_filters(GAMES, analyst) == []  # the filter names operators only
    both = caller(scopes=("read",), roles=("operator", "studio-lead"), attributes={"brand": ("acme",)})
    assert row_filters(GAMES, both) == [RowCondition("brand", ("acme",)), RowCondition("studio_id", ())]


def test_a_missing_attribute_or_unfit_values_match_no_row() -> None:
    missing = caller(scopes=("read",), roles=("operator",))
    assert row_filters(GAMES, missing) == [RowCondition("brand", ())]
    lead = caller(scopes=("read",), roles=("studio-lead",), attributes={"studio": ("7", " 12", "x", "9" * 30)})
    assert row_filters(GAMES, lead) == [RowCondition("studio_id", (7, 12))]  # ints; unparsable and huge dropped
    nothing = caller(scopes=("read",), roles=("studio-lead",), attributes={"studio": ("seven",)})
    assert row_filters(GAMES, nothing) == [RowCondition("studio_id", ())]


def test_a_filter_without_roles_applies_to_every_caller() -> None:
    config = load(BASE + "access:\n  rows:\n    - {dimension: brand, attribute: brand}\n")
    assert row_filters(config, caller(scopes=("read",), attributes={"brand": ("acme",)})) == [
        RowCondition("brand", ("acme",))
    ]
    assert row_filters(config, caller(scopes=("read",))) == [RowCondition("brand", ())]


def test_access_mistakes_are_located() -> None:
    text = BASE + (
        "access:\n"  # line 18
        "  read: [analyst, '']\n"  # 19: an empty role name
        "  writers: [producer]\n"  # 20: unknown key
        "  rows:\n"
        "    - dimension: brnad\n"  # 22: unknown dimension
        "      attribute: brand\n"
        "    - dimension: live\n"  # 24: a bool dimension cannot be compared with attribute strings
        "      attribute: live\n"
        "    - {dimension: brand, attribute: brand, roles: [operator, operator]}\n"  # 26: a role twice
        "    - {dimension: brand, attribute: 'has space'}\n"  # 27: not an attribute name
    )
    found = problems_of(text)
    assert (19, "access.read.1", "String should match pattern '^[A-Za-z0-9_][A-Za-z0-9_.:@/-]{0,127}$'") in found
    assert (20, "access.writers", "unknown key; check its spelling against configs/schema.json") in found
    assert (22, "access.rows.0.dimension", "unknown dimension 'brnad'; known: brand, live, studio_id") in found
    assert any(line == 24 and path == "access.rows.1.dimension" and "is bool" in m for line, path, m in found)
    assert (26, "access.rows.2.roles", "a role is listed twice") in found
    assert any(line == 27 and path == "access.rows.3.attribute" for line, path, _ in found)
    assert len(found) == 6, found


def test_a_row_filter_on_a_dimension_declared_but_broken_is_not_reported_twice() -> None:
    config = load(BASE + "access:\n  rows:\n    - {dimension: brand, attribute: brand}\n")
    broken = config.model_copy(update={"dimensions": {}})
    assert access_problems(broken, frozenset({"brand"})) == []
    assert access_problems(broken, None) == []  # the dimensions could not be read: any name goes
    assert [p for p, _ in access_problems(broken)] == [("access", "rows", 0, "dimension")]


@pytest.mark.parametrize("key", ["read", "write"])
def test_a_role_listed_twice(key: str) -> None:
    assert problems_of(BASE + f"access: {{{key}: [analyst, analyst]}}\n") == [
        (18, f"access.{key}", "a role is listed twice")
    ]
