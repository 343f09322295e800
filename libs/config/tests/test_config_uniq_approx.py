"""The approximate distinct count (`uniq_approx`): what a config may say about it, and the errors it gets when it
says something else, each at its file line and YAML path and naming the field."""

from __future__ import annotations

import pytest

from strix_config import ModuleConfig
from strix_config.loader import parse_module
from strix_config.metrics import UniqApproxMetric

SHOP = """\
module: shop
event:
  time_field: ts
  fields:
    ts: {type: datetime}
    customer: {type: string}
    basket: {type: int}
    action: {type: string}
    returning: {type: bool}
    price: {type: decimal}
    weight: {type: float}
partition_by: customer
dimensions:
  action: {}
metrics:
  events: {kind: count}
"""


def shop(metric: str) -> tuple[ModuleConfig | None, dict[str, str], dict[str, int | None]]:
    """SHOP with one more metric `m` on line 17; its problems by YAML path, and their lines."""
    config, problems = parse_module(SHOP + f"  m: {metric}\n", "shop.yaml")
    return config, {p.path: p.message for p in problems}, {p.path: p.line for p in problems}


def test_precision_is_12_unless_the_config_says_otherwise() -> None:
    config, problems, _ = shop("{kind: uniq_approx, field: customer}")
    assert config is not None and not problems
    metric = config.metrics["m"]
    assert isinstance(metric, UniqApproxMetric) and metric.precision == 12
    config, problems, _ = shop("{kind: uniq_approx, field: basket, precision: 16, where: {action: buy}}")
    assert config is not None and not problems
    assert config.metrics["m"].precision == 16  # type: ignore[union-attr]
    assert config.metric_value_type("m").graphql == "Long"


@pytest.mark.parametrize(
    ("precision", "words"),
    [("11", "greater than or equal to 12"), ("21", "less than or equal to 20"), ("high", "integer")],
)
def test_a_precision_outside_12_to_20_is_refused_at_its_line(precision: str, words: str) -> None:
    config, problems, lines = shop(f"{{kind: uniq_approx, field: customer, precision: {precision}}}")
    assert config is None
    assert words in problems["metrics.m.precision"]
    assert lines["metrics.m.precision"] == 17


@pytest.mark.parametrize("field", ["returning", "price", "weight", "ts"])
def test_a_field_that_is_no_identifier_is_refused_naming_it(field: str) -> None:
    config, problems, lines = shop(f"{{kind: uniq_approx, field: {field}}}")
    assert config is None
    message = problems["metrics.m.field"]
    assert message.startswith("uniq_approx needs a string or int field") and repr(field) in message
    assert lines["metrics.m.field"] == 17


def test_an_unknown_field_is_refused_naming_it() -> None:
    config, problems, _ = shop("{kind: uniq_approx, field: customr}")
    assert config is None
    assert "'customr'" in problems["metrics.m.field"]


def test_a_sum_still_names_numeric_fields() -> None:
    _, problems, _ = shop("{kind: sum, field: customer}")
    assert problems["metrics.m.field"] == "sum needs a numeric field, 'customer' is string"
