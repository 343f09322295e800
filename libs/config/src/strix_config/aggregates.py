"""A ClickHouse aggregate function over its arguments: the one shape through which every stored metric kind
renders its forms.

A stored metric has three renderings that must agree: its aggregate state in a rollup (`state`, typed by
`state_type`), the merge of those states at query time (`merge`), and the same aggregate computed directly over
raw events (`raw`). Each metric kind (model.py) says which function, parameters and arguments it aggregates; the
-State, -Merge and -If combinators are applied here, once, so rollup and raw answers agree by construction.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Aggregate:
    function: str  # such as sum, uniqExact, quantileTDigest
    parameters: str = ""  # such as "(0.99)"
    arguments: tuple[str, ...] = ()  # SQL expressions over event columns
    types: tuple[str, ...] = ()  # their ClickHouse types (an aggregate state is typed by them)

    def where(self, condition: str | None) -> Aggregate:
        """Only the events passing `condition` (an SQL expression): the -If combinator."""
        if condition is None:
            return self
        return Aggregate(self.function + "If", self.parameters, (*self.arguments, condition), (*self.types, "UInt8"))

    def state(self) -> str:
        """The aggregate state written into a rollup."""
        return f"{self.function}State{self.parameters}({', '.join(self.arguments)})"

    def state_type(self) -> str:
        """The rollup column type holding that state."""
        return f"AggregateFunction({', '.join([self.function + self.parameters, *self.types])})"

    def merge(self, column: str) -> str:
        """The merge of the states in a rollup `column`."""
        return f"{self.function}Merge{self.parameters}({column})"

    def raw(self) -> str:
        """The same aggregate computed over raw events."""
        return f"{self.function}{self.parameters}({', '.join(self.arguments)})"
