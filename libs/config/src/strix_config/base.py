"""The nodes every part of a module config is made of: strict (unknown keys are errors), annotated (label,
description, unit, format: API docs and UI help), and the field tests a metric condition is made of.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, model_validator

Scalar = str | int | float | bool


class Strict(BaseModel):
    """Base of every config node: unknown keys are errors, not silently ignored."""

    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=False)


class Annotated_(Strict):
    """Annotations change nothing in the pipeline and everything in the API docs and the UI."""

    label: str | None = Field(default=None, description="Short human name shown in the UI and API docs.")
    description: str | None = Field(default=None, description="What this element means, for API docs and UI help.")
    unit: str | None = Field(default=None, description="Unit of the values, such as EUR, ms or events.")
    format: str | None = Field(
        default=None, description="Display hint for values, such as 'currency', 'percent', 'integer' or 'duration'."
    )
    ui: dict[str, str | int | float | bool] = Field(
        default_factory=dict, description="Free-form hints for the web UI (chart preferences, colours, ordering)."
    )


ORDER_OPS: frozenset[str] = frozenset({"gt", "gte", "lt", "lte"})
STRING_OPS: frozenset[str] = frozenset({"prefix", "contains"})
LIST_OPS: frozenset[str] = frozenset({"in", "not_in"})


class FieldTest(Strict):
    """Tests on one event field, with the operators of query filters; every test given must hold.

    `in` is a Python keyword, so the attribute is `in_` and the key in the file is `in`."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    eq: Scalar | None = Field(default=None, description="The field equals this value.")
    neq: Scalar | None = Field(default=None, description="The field differs from this value.")
    in_: list[Scalar] | None = Field(
        default=None, alias="in", min_length=1, description="The field equals one of these values."
    )
    not_in: list[Scalar] | None = Field(
        default=None, min_length=1, description="The field equals none of these values."
    )
    gt: Scalar | None = Field(default=None, description="Greater than (numeric and datetime fields).")
    gte: Scalar | None = Field(default=None, description="Greater than or equal (numeric and datetime fields).")
    lt: Scalar | None = Field(default=None, description="Less than (numeric and datetime fields).")
    lte: Scalar | None = Field(default=None, description="Less than or equal (numeric and datetime fields).")
    prefix: str | None = Field(default=None, description="The string field starts with this text.")
    contains: str | None = Field(default=None, description="The string field contains this text.")

    @model_validator(mode="after")
    def _one_test_at_least(self) -> FieldTest:
        if not self.tests():
            raise ValueError("give at least one operator: eq, neq, in, not_in, gt, gte, lt, lte, prefix, contains")
        return self

    def tests(self) -> list[tuple[str, Scalar | list[Scalar]]]:
        """(operator, value) of every test given, in a fixed order; `in` named as in the file."""
        found: list[tuple[str, Scalar | list[Scalar]]] = []
        for op in ("eq", "neq", "in", "not_in", "gt", "gte", "lt", "lte", "prefix", "contains"):
            value = getattr(self, "in_" if op == "in" else op)
            if value is not None:
                found.append((op, value))
        return found


def _where_tag(value: Any) -> str:
    if isinstance(value, dict | FieldTest):
        return "operators"
    if isinstance(value, list):
        return "any_of"
    return "value"


WHERE_TAGS: frozenset[str] = frozenset({"operators", "any_of", "value"})

# One condition on one field: a value (equality), a list (any of them) or a mapping of operators. The tag
# function picks the form from the shape, so a mistake is reported against that form only.
WhereCondition = Annotated[
    Annotated[Scalar, Tag("value")] | Annotated[list[Scalar], Tag("any_of")] | Annotated[FieldTest, Tag("operators")],
    Discriminator(_where_tag),
]


def condition_tests(condition: Scalar | list[Scalar] | FieldTest) -> list[tuple[str, Scalar | list[Scalar]]]:
    """Every form of a condition as (operator, value) pairs: a value is `eq`, a list is `in`."""
    if isinstance(condition, FieldTest):
        return condition.tests()
    if isinstance(condition, list):
        return [("in", condition)]
    return [("eq", condition)]
