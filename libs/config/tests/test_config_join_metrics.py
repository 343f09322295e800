"""Derived metrics of a join: `joins.<name>.metrics` reads metrics of both modules (a bare name is this module's,
`<module>.<metric>` the joined one's), checked once the catalog has both, each problem with its file and line."""

from __future__ import annotations

from pathlib import Path

import pytest

from strix_config import ConfigError, load_catalog

REPO = Path(__file__).resolve().parents[3]
JOINS = "\njoins:\n"


def catalog_with(tmp_path: Path, join_metrics: str) -> Path:
    """The example clickstream and campaigns configs, the clickstream's join (its last section) given these
    derived metrics instead of its own."""
    clickstream = (REPO / "configs" / "clickstream.yaml").read_text(encoding="utf-8")
    assert clickstream.count(JOINS) == 1
    head = clickstream[: clickstream.index(JOINS) + len(JOINS)]
    join = "  campaigns:\n    module: campaigns\n    match: {product_group: product_group, country: country}\n"
    (tmp_path / "clickstream.yaml").write_text(head + join + "    metrics:\n" + join_metrics, encoding="utf-8")
    (tmp_path / "campaigns.yaml").write_text(
        (REPO / "configs" / "campaigns.yaml").read_text(encoding="utf-8"), encoding="utf-8"
    )
    return tmp_path


def test_a_join_derives_a_metric_from_both_sides(tmp_path: Path) -> None:
    metrics = (
        "      return_on_spend: {kind: ratio, numerator: revenue, denominator: campaigns.spend, format: percent}\n"
        "      views_per_click: {kind: ratio, numerator: views, denominator: campaigns.clicks}\n"
    )
    join = load_catalog(catalog_with(tmp_path, metrics)).modules["clickstream"].joins["campaigns"]
    assert join.derived_inputs("return_on_spend") == (["revenue"], ["spend"])
    assert join.derived_inputs("views_per_click") == (["views"], ["clicks"])
    assert join.side("campaigns.ctr") == (True, "ctr") and join.side("conversion_rate") == (False, "conversion_rate")
    assert join.metrics["return_on_spend"].format == "percent"


def test_a_join_metric_naming_what_neither_module_has_is_reported_where_it_is_written(tmp_path: Path) -> None:
    metrics = (
        "      a: {kind: ratio, numerator: revenu, denominator: campaigns.spend}\n"
        "      b: {kind: ratio, numerator: revenue, denominator: campaigns.spent}\n"
        "      revenue: {kind: ratio, numerator: revenue, denominator: campaigns.clicks}\n"
        "      c: {kind: ratio, numerator: revenue, denominator: spend}\n"
    )
    with pytest.raises(ConfigError) as caught:
        load_catalog(catalog_with(tmp_path, metrics))
    text = (tmp_path / "clickstream.yaml").read_text(encoding="utf-8").splitlines()
    line_of = {name: text.index(f"      {name}: " + rest) + 1 for name, rest in [
        ("a", "{kind: ratio, numerator: revenu, denominator: campaigns.spend}"),
        ("b", "{kind: ratio, numerator: revenue, denominator: campaigns.spent}"),
        ("revenue", "{kind: ratio, numerator: revenue, denominator: campaigns.clicks}"),
        ("c", "{kind: ratio, numerator: revenue, denominator: spend}"),
    ]}  # fmt: skip
    found = {(p.path, p.line): p.message for p in caught.value.problems}
    assert set(found) == {
        ("joins.campaigns.metrics.a.numerator", line_of["a"]),
        ("joins.campaigns.metrics.b.denominator", line_of["b"]),
        ("joins.campaigns.metrics.revenue", line_of["revenue"]),
        ("joins.campaigns.metrics.c.denominator", line_of["c"]),
    }, str(caught.value)
    assert found[("joins.campaigns.metrics.a.numerator", line_of["a"])].startswith("clickstream has no metric 'revenu'")
    assert found[("joins.campaigns.metrics.b.denominator", line_of["b"])].startswith("campaigns has no metric 'spent'")
    assert "campaigns.<metric>" in found[("joins.campaigns.metrics.c.denominator", line_of["c"])]
    assert "already a name" in found[("joins.campaigns.metrics.revenue", line_of["revenue"])]
