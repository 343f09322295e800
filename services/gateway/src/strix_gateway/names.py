"""GraphQL names derived from config names: one rule, used everywhere."""

from __future__ import annotations


def pascal(name: str) -> str:
    return "".join(part[:1].upper() + part[1:] for part in name.split("_"))


def camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def enum_value(name: str) -> str:
    return name.upper()
