"""Loading module configs: the examples load, and a broken config reports every mistake at once, each with its
file, line and YAML path, so a client fixes a file in one pass."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel, Field

from strix_config import ConfigError, ConfigProblem, ModuleConfig, load_catalog
from strix_config.loader import parse_module, read_module
from strix_config.schema import module_json_schema, module_json_schema_text

REPO = Path(__file__).resolve().parents[3]
CONFIGS = REPO / "configs"
CLIENT_CONFIGS = REPO / "tests" / "fixtures" / "client-configs"

# A small valid module; tests append mistakes to copies of it. Line numbers below are counted in this text.
VALID = """\
module: shop
event:
  time_field: ts
  fields:
    ts: {type: datetime}
    customer: {type: string}
    action: {type: string}
    price: {type: decimal}
partition_by: customer
dimensions:
  action: {}
metrics:
  events: {kind: count}
  revenue: {kind: sum, field: price}
rollups:
  hourly: {granularity: hour, dimensions: [action]}
"""

# Six mistakes, one of each kind, on known lines:
#   line 9  event.fields.coupon: optional field without a default
#   line 11 partiton_by: unknown key (misspelt)
#   line 18 metrics.revenue.field: unknown field `prize`
#   line 19 metrics.buyers: unknown metric kind `uniq_count`
#   line 21 rollups.hourly.dimensions.1: unknown dimension `country`
#   line 23 rollups.weekly.granularity: `week` is not a granularity
SIX_MISTAKES = """\
module: shop
event:
  time_field: ts
  fields:
    ts: {type: datetime}
    customer: {type: string}
    action: {type: string}
    price: {type: decimal}
    coupon: {type: string, required: false}
partition_by: customer
partiton_by: customer
dimensions:
  action: {}
metrics:
  events: {kind: count}
  revenue:
    kind: sum
    field: prize
  buyers: {kind: uniq_count, field: customer}
rollups:
  hourly: {granularity: hour, dimensions: [action, country]}
  weekly:
    granularity: week
    dimensions: [action]
"""


def located(problems: list[ConfigProblem]) -> set[tuple[int | None, str]]:
    return {(p.line, p.path) for p in problems}


def problem_at(problems: list[ConfigProblem], path: str) -> ConfigProblem:
    matches = [p for p in problems if p.path == path]
    assert len(matches) == 1, f"expected one problem at {path!r}, got: {[p.render() for p in problems]}"
    return matches[0]


# --- the shipped configs -------------------------------------------------------------------------------------


def test_example_configs_load_as_one_catalog() -> None:
    catalog = load_catalog(CONFIGS)
    assert catalog.names() == ["campaigns", "clickstream", "gaming"]
    clickstream = catalog.modules["clickstream"]
    assert clickstream.event.time_field == "ts"
    assert clickstream.event.id_field == "event_id"
    assert "daily_groups" in clickstream.rollups
    assert clickstream.metrics["conversion_rate"].kind == "ratio"
    assert catalog.sources["gaming"] == str(CONFIGS / "gaming.yaml")


@pytest.mark.parametrize("name", ["clickstream.yaml", "gaming.yaml", "campaigns.yaml"])
def test_each_example_config_parses_alone_without_problems(name: str) -> None:
    config, problems = read_module(CONFIGS / name)
    assert problems == []
    assert config is not None
    assert config.module == name.removesuffix(".yaml")


def test_unseen_client_config_loads() -> None:
    catalog = load_catalog(CLIENT_CONFIGS)
    fleet = catalog.modules["fleet"]
    assert fleet.raw.keep is False
    assert fleet.event.fields["on_time"].type == "bool"
    assert set(fleet.rollups) == {"hourly_depots", "daily_zones"}


def test_catalog_fingerprint_changes_with_any_config(tmp_path: Path) -> None:
    (tmp_path / "shop.yaml").write_text(VALID, encoding="utf-8")
    before = load_catalog(tmp_path).fingerprint
    assert load_catalog(tmp_path).fingerprint == before
    (tmp_path / "shop.yaml").write_text(VALID.replace("granularity: hour", "granularity: day"), encoding="utf-8")
    assert load_catalog(tmp_path).fingerprint != before


# --- every mistake, located ----------------------------------------------------------------------------------


def test_valid_inline_config_has_no_problems() -> None:
    config, problems = parse_module(VALID, "shop.yaml")
    assert problems == []
    assert config is not None
    assert config.rollups["hourly"].dimensions == ["action"]


def test_every_mistake_of_a_file_is_reported_at_once_with_line_and_path() -> None:
    """Structural mistakes (unknown key, kind, granularity) and reference mistakes (unknown field, dimension,
    missing default) in one file: a client must see all six in one run, not fix them one error at a time."""
    config, problems = parse_module(SIX_MISTAKES, "shop.yaml")
    assert config is None
    assert located(problems) == {
        (9, "event.fields.coupon"),
        (11, "partiton_by"),
        (18, "metrics.revenue.field"),
        (19, "metrics.buyers"),
        (21, "rollups.hourly.dimensions.1"),
        (23, "rollups.weekly.granularity"),
    }, "\n".join(p.render() for p in problems)
    assert all(p.file == "shop.yaml" for p in problems)


def test_structural_mistakes_are_all_reported_with_hints() -> None:
    text = VALID.replace(
        "partition_by: customer\n",
        "partition_by: customer\npartiton_by: customer\n",  # line 10: unknown key
    ).replace("  revenue: {kind: sum, field: price}\n", "  revenue: {kind: total, field: price}\n")  # line 15
    text += "  weekly:\n    granularity: week\n"  # lines 18-19
    config, problems = parse_module(text, "shop.yaml")
    assert config is None
    assert located(problems) == {(10, "partiton_by"), (15, "metrics.revenue"), (19, "rollups.weekly.granularity")}

    unknown_key = problem_at(problems, "partiton_by")
    assert "unknown key" in unknown_key.message
    kind = problem_at(problems, "metrics.revenue")
    assert "unknown metric kind" in kind.message
    for tag in ("count", "sum", "uniq", "quantile", "ratio"):
        assert tag in kind.message
    granularity = problem_at(problems, "rollups.weekly.granularity")
    for choice in ("minute", "hour", "day"):
        assert choice in granularity.message


def test_reference_mistakes_are_all_reported_with_line_and_path() -> None:
    text = (
        VALID.replace(
            "    price: {type: decimal}\n", "    price: {type: decimal}\n    coupon: {type: string, required: false}\n"
        )
        .replace("  revenue: {kind: sum, field: price}\n", "  revenue:\n    kind: sum\n    field: prize\n")
        .replace("dimensions: [action]}", "dimensions: [action, country]}")
    )
    config, problems = parse_module(text, "shop.yaml")
    assert config is None
    assert located(problems) == {
        (9, "event.fields.coupon"),
        (17, "metrics.revenue.field"),
        (19, "rollups.hourly.dimensions.1"),
    }
    assert "default" in problem_at(problems, "event.fields.coupon").message
    field = problem_at(problems, "metrics.revenue.field").message
    assert "'prize'" in field
    assert "price" in field  # the hint lists the fields the event has
    dimension = problem_at(problems, "rollups.hourly.dimensions.1").message
    assert "'country'" in dimension
    assert "action" in dimension


def test_a_metric_on_a_string_field_that_needs_numbers_is_located() -> None:
    text = VALID.replace("  revenue: {kind: sum, field: price}\n", "  revenue: {kind: sum, field: customer}\n")
    config, problems = parse_module(text, "shop.yaml")
    assert config is None
    assert located(problems) == {(14, "metrics.revenue.field")}
    assert "numeric" in problems[0].message


def test_problem_renders_file_line_and_path() -> None:
    problem = ConfigProblem("configs/shop.yaml", 22, "rollups.daily.retension", "unknown key")
    assert problem.render() == "configs/shop.yaml:22 at rollups.daily.retension: unknown key"
    assert ConfigProblem("configs", None, "", "no configs").render() == "configs: no configs"


# --- YAML that does not parse --------------------------------------------------------------------------------


def test_invalid_yaml_reports_its_line() -> None:
    text = "module: shop\nevent:\n  time_field: ts\n\tfields: {}\n"  # a tab starts line 4
    config, problems = parse_module(text, "shop.yaml")
    assert config is None
    assert len(problems) == 1
    assert problems[0].line == 4
    assert problems[0].file == "shop.yaml"
    assert "not valid YAML" in problems[0].message


def test_unclosed_flow_mapping_reports_a_line() -> None:
    text = VALID.replace("    ts: {type: datetime}\n", "    ts: {type: datetime\n")  # line 5 never closes
    config, problems = parse_module(text, "shop.yaml")
    assert config is None
    assert len(problems) == 1
    assert problems[0].line is not None
    assert 5 <= problems[0].line <= 6


@pytest.mark.parametrize("text", ["- module: shop\n", "just text\n", ""])
def test_a_config_that_is_not_a_mapping_is_refused(text: str) -> None:
    config, problems = parse_module(text, "shop.yaml")
    assert config is None
    assert len(problems) == 1
    assert "mapping" in problems[0].message


# --- the catalog ---------------------------------------------------------------------------------------------


def test_duplicate_module_names_across_files_are_reported(tmp_path: Path) -> None:
    (tmp_path / "a_shop.yaml").write_text(VALID, encoding="utf-8")
    (tmp_path / "b_shop.yaml").write_text(VALID, encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_catalog(tmp_path)
    problems = caught.value.problems
    assert len(problems) == 1
    duplicate = problems[0]
    assert duplicate.file == str(tmp_path / "b_shop.yaml")
    assert duplicate.path == "module"
    assert duplicate.line == 1
    assert "'shop'" in duplicate.message
    assert str(tmp_path / "a_shop.yaml") in duplicate.message


def test_catalog_raises_once_with_the_problems_of_every_file(tmp_path: Path) -> None:
    (tmp_path / "a_shop.yaml").write_text(VALID, encoding="utf-8")
    (tmp_path / "b_shop.yaml").write_text(VALID, encoding="utf-8")
    (tmp_path / "c_broken.yaml").write_text(
        VALID.replace("module: shop", "module: broken").replace("field: price", "field: prize"), encoding="utf-8"
    )
    (tmp_path / "d_yaml.yaml").write_text("module: [\n", encoding="utf-8")
    (tmp_path / "notes.txt").write_text("not a config", encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_catalog(tmp_path)
    by_file = {(Path(p.file).name, p.path) for p in caught.value.problems}
    assert by_file == {("b_shop.yaml", "module"), ("c_broken.yaml", "metrics.revenue.field"), ("d_yaml.yaml", "")}
    message = str(caught.value)
    assert f"{tmp_path / 'c_broken.yaml'}:14 at metrics.revenue.field" in message


def test_a_join_to_an_unknown_module_is_reported_by_the_catalog(tmp_path: Path) -> None:
    text = VALID + "joins:\n  ads:\n    module: campaigns\n    match: {action: action}\n"
    config, problems = parse_module(text, "shop.yaml")
    assert problems == []  # a single file cannot know the other modules
    assert config is not None
    (tmp_path / "shop.yaml").write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_catalog(tmp_path)
    [problem] = caught.value.problems
    assert problem.path == "joins.ads.module"
    assert "'campaigns'" in problem.message


def test_missing_or_empty_config_directory_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_catalog(tmp_path / "nowhere")
    with pytest.raises(ConfigError, match="no module configs"):
        load_catalog(tmp_path)


# --- descriptions and the JSON Schema ------------------------------------------------------------------------


def undescribed_properties(schema: dict[str, Any]) -> tuple[list[str], int]:
    """(JSON pointers of properties without a description, number of properties seen)."""
    missing: list[str] = []
    seen = 0

    def walk(node: Any, pointer: str) -> None:
        nonlocal seen
        if isinstance(node, dict):
            properties = node.get("properties")
            if isinstance(properties, dict):
                for name, spec in properties.items():
                    seen += 1
                    if not (isinstance(spec, dict) and str(spec.get("description", "")).strip()):
                        missing.append(f"{pointer}/properties/{name}")
            for key, value in node.items():
                walk(value, f"{pointer}/{key}")
        elif isinstance(node, list):
            for i, value in enumerate(node):
                walk(value, f"{pointer}/{i}")

    walk(schema, "#")
    return missing, seen


def test_every_config_field_has_a_description() -> None:
    """Descriptions become the JSON Schema editors show, the GraphQL docs and the UI help."""
    missing, seen = undescribed_properties(ModuleConfig.model_json_schema())
    assert seen > 50  # the walk reached the nested definitions, not just the top level
    assert missing == []


def test_the_description_check_catches_a_missing_description() -> None:
    class Inner(BaseModel):
        described: int = Field(description="Has one.")
        bare: int

    class Outer(BaseModel):
        inner: Inner = Field(description="Nested.")

    missing, _ = undescribed_properties(Outer.model_json_schema())
    assert missing == ["#/$defs/Inner/properties/bare"]


def test_committed_schema_matches_the_model() -> None:
    """configs/schema.json is what editors validate against; regenerate it with
    `strix config schema --output configs/schema.json` after changing the model."""
    committed = CONFIGS / "schema.json"
    assert committed.is_file(), "configs/schema.json is missing; run `strix config schema --output configs/schema.json`"
    text = committed.read_text(encoding="utf-8")
    assert json.loads(text) == module_json_schema()
    assert text == module_json_schema_text()


def test_schema_knows_every_metric_kind() -> None:
    schema = module_json_schema()
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    [metric] = schema["properties"]["metrics"]["patternProperties"].values()
    assert metric["discriminator"]["propertyName"] == "kind"
    assert set(metric["discriminator"]["mapping"]) == {
        "count",
        "sum",
        "min",
        "max",
        "avg",
        "uniq",
        "uniq_exact",
        "uniq_approx",
        "quantile",
        "ratio",
    }


def test_a_dedup_window_shorter_than_the_lateness_bound_or_without_an_id_is_refused() -> None:
    short = VALID.replace(
        "  time_field: ts\n", "  time_field: ts\n  id_field: customer\n  max_lateness: 30d\n  dedup_window: 7d\n"
    )
    config, problems = parse_module(short, "shop.yaml")
    assert config is None
    message = problem_at(problems, "event.dedup_window").message
    assert "7d" in message and "30d" in message and "twice" in message
    no_id = VALID.replace("  time_field: ts\n", "  time_field: ts\n  dedup_window: 7d\n")
    config, problems = parse_module(no_id, "shop.yaml")
    assert config is None
    assert "id_field" in problem_at(problems, "event.dedup_window").message


def test_the_dedup_window_defaults_to_a_week_or_the_lateness_bound_if_longer() -> None:
    with_id = VALID.replace("  time_field: ts\n", "  time_field: ts\n  id_field: customer\n")
    config, _ = parse_module(with_id, "shop.yaml")
    assert config is not None and config.dedup_window() == timedelta(days=7)
    late = with_id.replace("  id_field: customer\n", "  id_field: customer\n  max_lateness: 30d\n")
    config, _ = parse_module(late, "shop.yaml")
    assert config is not None and config.dedup_window() == timedelta(days=30)
    config, _ = parse_module(VALID, "shop.yaml")
    assert config is not None and config.dedup_window() is None


# --- metric conditions with the operators of query filters ----------------------------------------------------


def with_metric(line: str) -> str:
    """VALID with one more metric on line 15 (after `revenue`)."""
    return VALID.replace("  revenue: {kind: sum, field: price}\n", "  revenue: {kind: sum, field: price}\n" + line)


def test_metric_conditions_accept_the_operators_of_query_filters() -> None:
    text = with_metric(
        "  picked: {kind: sum, field: price, where: {action: {neq: view, not_in: [refund]}, customer: {prefix: c},"
        " price: {gte: 10, lt: 99.99}, ts: {gt: '2026-01-01T00:00:00Z'}}}\n"
        "  listed: {kind: count, where: {action: {in: [view, buy]}, customer: {contains: x}}}\n"
        "  plain: {kind: count, where: {action: [view, buy], customer: c1}}\n"
    )
    config, problems = parse_module(text, "shop.yaml")
    assert problems == [], [p.render() for p in problems]
    assert config is not None
    from strix_config.model import condition_tests

    where = config.metrics["picked"].where or {}
    assert condition_tests(where["action"]) == [("neq", "view"), ("not_in", ["refund"])]
    assert condition_tests(where["price"]) == [("gte", 10), ("lt", 99.99)]
    assert condition_tests((config.metrics["listed"].where or {})["action"]) == [("in", ["view", "buy"])]
    plain = config.metrics["plain"].where or {}
    assert condition_tests(plain["action"]) == [("in", ["view", "buy"])]
    assert condition_tests(plain["customer"]) == [("eq", "c1")]


@pytest.mark.parametrize(
    ("condition", "path", "words"),
    [
        ("{price: {prefix: '1'}}", "metrics.m.where.price.prefix", ["string fields", "'price' is decimal"]),
        ("{action: {gt: 3}}", "metrics.m.where.action.gt", ["numeric and datetime", "'action' is string"]),
        ("{price: {gte: cheap}}", "metrics.m.where.price.gte", ["'cheap'", "decimal"]),
        ("{price: {lt: 1.155}}", "metrics.m.where.price.lt", ["1.155", "2 digits"]),
        ("{ts: {gte: '2026-01-01'}}", "metrics.m.where.ts.gte", ["RFC 3339", "zone"]),
        ("{action: {not_in: [view, 3]}}", "metrics.m.where.action.not_in", ["3 is not a string"]),
        ("{action: {nq: view}}", "metrics.m.where.action.nq", ["unknown key"]),
        ("{action: {}}", "metrics.m.where.action", ["at least one operator"]),
        ("{action: {in: view}}", "metrics.m.where.action.in", ["valid list"]),
        ("{actoin: {neq: view}}", "metrics.m.where.actoin", ["unknown event field 'actoin'"]),
    ],
)
def test_a_metric_condition_is_checked_against_its_field_type_and_located(
    condition: str, path: str, words: list[str]
) -> None:
    config, problems = parse_module(with_metric(f"  m: {{kind: count, where: {condition}}}\n"), "shop.yaml")
    assert config is None
    assert [(p.line, p.path) for p in problems] == [(15, path)], [p.render() for p in problems]
    for word in words:
        assert word in problems[0].message, problems[0].message


# --- one pass: structural mistakes do not hide reference mistakes ---------------------------------------------


def test_a_misspelt_key_and_an_unknown_dimension_in_one_rollup_are_reported_together(tmp_path: Path) -> None:
    """`strix config validate` (load_catalog) shows both in one run, each with file:line and YAML path."""
    text = VALID.replace(
        "  hourly: {granularity: hour, dimensions: [action]}\n",
        "  hourly:\n    granularity: hour\n    dimensions: [action, country]\n    retension: 7d\n",
    )
    (tmp_path / "shop.yaml").write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_catalog(tmp_path)
    assert located(caught.value.problems) == {(18, "rollups.hourly.dimensions.1"), (19, "rollups.hourly.retension")}
    rendered = str(caught.value)
    assert f"{tmp_path / 'shop.yaml'}:19 at rollups.hourly.retension: unknown key" in rendered
    assert f"{tmp_path / 'shop.yaml'}:18 at rollups.hourly.dimensions.1: unknown dimension 'country'" in rendered


@pytest.mark.parametrize(
    ("broken", "structural"),
    [
        # a misspelt required key of a section: the section cannot parse, the rest is still checked
        (("time_field: ts", "time_fild: ts"), {(3, "event.time_fild"), (2, "event.time_field")}),
        # an invalid choice inside the same rollup as the unknown dimension
        (("granularity: hour, ", "granularity: week, "), {(16, "rollups.hourly.granularity")}),
        # a missing required key inside that rollup
        (("granularity: hour, ", ""), {(16, "rollups.hourly.granularity")}),
        # a wrongly typed top-level value
        (("partition_by: customer", "partition_by: [customer]"), {(9, "partition_by")}),
    ],
)
def test_reference_checks_run_whatever_structural_mistake_is_beside_them(
    broken: tuple[str, str], structural: set[tuple[int, str]]
) -> None:
    text = VALID.replace("dimensions: [action]}", "dimensions: [action, country]}").replace(*broken)
    config, problems = parse_module(text, "shop.yaml")
    assert config is None
    assert located(problems) == {*structural, (16, "rollups.hourly.dimensions.1")}, [p.render() for p in problems]


def test_a_broken_definition_is_reported_once_not_at_every_reference() -> None:
    """A field with an invalid type and a metric with a misspelt key: references to them (a metric on the
    field, a ratio and a rollup naming the metric) are not reported as unknown."""
    text = (
        VALID.replace("price: {type: decimal}", "price: {type: money}")
        .replace("revenue: {kind: sum, field: price}", "revenue: {kind: sum, feild: price}")
        .replace(
            "  events: {kind: count}\n",
            "  events: {kind: count}\n  spent: {kind: max, field: price}\n"
            "  per_event: {kind: ratio, numerator: revenue, denominator: events}\n",
        )
        .replace("dimensions: [action]}", "dimensions: [action], metrics: [events, revenue, spent]}")
    )
    config, problems = parse_module(text, "shop.yaml")
    assert config is None
    assert located(problems) == {
        (8, "event.fields.price.type"),
        (16, "metrics.revenue.field"),
        (16, "metrics.revenue.feild"),
    }, [p.render() for p in problems]


# --- a broken module does not cascade into the modules joining it ----------------------------------------------


ADS = VALID.replace("module: shop", "module: ads")


def test_a_module_joining_a_broken_module_gets_no_unknown_module_error(tmp_path: Path) -> None:
    (tmp_path / "ads.yaml").write_text(ADS.replace("field: price}", "field: prize}"), encoding="utf-8")
    (tmp_path / "shop.yaml").write_text(
        VALID + "joins:\n  ads:\n    module: ads\n    match: {action: action}\n", encoding="utf-8"
    )
    with pytest.raises(ConfigError) as caught:
        load_catalog(tmp_path)
    by_file = {(Path(p.file).name, p.line, p.path) for p in caught.value.problems}
    assert by_file == {("ads.yaml", 14, "metrics.revenue.field")}, str(caught.value)


def test_a_join_to_a_broken_module_is_still_checked_against_the_dimensions_it_declares(tmp_path: Path) -> None:
    (tmp_path / "ads.yaml").write_text(ADS.replace("partition_by: customer", "partiton_by: customer"), encoding="utf-8")
    (tmp_path / "shop.yaml").write_text(
        VALID + "joins:\n  ads:\n    module: ads\n    match: {action: campaign}\n", encoding="utf-8"
    )
    (tmp_path / "zoo.yaml").write_text(
        VALID.replace("module: shop", "module: zoo") + "joins:\n  gone:\n    module: nowhere\n    match: {action: x}\n",
        encoding="utf-8",
    )
    with pytest.raises(ConfigError) as caught:
        load_catalog(tmp_path)
    by_file = {(Path(p.file).name, p.line, p.path) for p in caught.value.problems}
    assert by_file == {
        ("ads.yaml", 9, "partiton_by"),
        ("ads.yaml", 1, "partition_by"),
        ("shop.yaml", 20, "joins.ads.match.action"),
        ("zoo.yaml", 19, "joins.gone.module"),
    }, str(caught.value)
    messages = {p.path: p.message for p in caught.value.problems}
    assert "ads has no dimension 'campaign'" in messages["joins.ads.match.action"]
    assert "unknown module 'nowhere'" in messages["joins.gone.module"]


# --- messages for what YAML hides ------------------------------------------------------------------------------


def test_a_match_key_that_yaml_reads_as_a_boolean_says_so_and_how_to_quote() -> None:
    text = VALID + "joins:\n  ads:\n    module: ads\n    match: {on: action}\n"
    config, problems = parse_module(text, "shop.yaml")
    assert config is None
    problem = problem_at(problems, "joins.ads.match.on")
    assert problem.line == 20
    assert "'on' as a boolean" in problem.message
    assert "quote it ('on': ...)" in problem.message
    assert "Keys should be strings" not in str([p.message for p in problems])


def test_on_instead_of_match_in_a_join_says_so() -> None:
    text = VALID + "joins:\n  ads:\n    module: ads\n    on: {action: action}\n"
    config, problems = parse_module(text, "shop.yaml")
    assert config is None
    problem = problem_at(problems, "joins.ads.on")
    assert problem.line == 20
    assert "as a boolean" in problem.message
    assert "match:" in problem.message


def test_a_comma_in_an_unquoted_flow_mapping_value_points_at_the_comma() -> None:
    text = VALID.replace("  action: {}\n", "  action: {label: A, description: clicks, views}\n")
    config, problems = parse_module(text, "shop.yaml")
    assert config is None
    [problem] = problems
    assert (problem.line, problem.path) == (11, "dimensions.action.views")
    assert "unknown key" not in problem.message
    assert "comma at line 11, column 41" in problem.message
    assert "`description`" in problem.message
    assert "quote" in problem.message
    assert 'description: "..., views"' in problem.message


def test_granularities_are_one_table_ordered_fine_to_coarse() -> None:
    from strix_config import GRANULARITIES, GRANULARITY_SECONDS

    names = sorted(GRANULARITIES, key=lambda n: GRANULARITIES[n].order)
    assert names == ["minute", "hour", "day", "week", "month", "total"]
    assert GRANULARITY_SECONDS == {"minute": 60, "hour": 3600, "day": 86400}  # what rollups may keep
    rollup_kinds = {spec.name for spec in GRANULARITIES.values() if spec.rollup}
    assert rollup_kinds == set(ModuleConfig.model_json_schema()["$defs"]["Rollup"]["properties"]["granularity"]["enum"])
    assert all(GRANULARITIES[n].bucket_function and GRANULARITIES[n].partition_key for n in rollup_kinds)
