"""Names a config may not take: a module, predefined query or join whose GraphQL root field is the gateway's own
(`modules`, `dashboards` ...) or another's, and dimensions, metrics or join metrics whose camelCase fields meet
in one row type, would silently replace one another in the schema. Each is refused at load with file and line."""

from __future__ import annotations

from pathlib import Path

import pytest

from strix_config import ConfigError, load_catalog


def module(name: str, extra: str = "", dimensions: str = "  country: {}\n", metrics: str = "") -> str:
    return (
        f"module: {name}\n"
        "event:\n"
        "  time_field: ts\n"
        "  fields:\n"
        "    ts: {type: datetime}\n"
        "    country: {type: string}\n"
        "partition_by: country\n"
        f"dimensions:\n{dimensions}"
        f"metrics:\n  events: {{kind: count}}\n{metrics}"
        "raw: {keep: true}\n"
        f"{extra}"
    )


def problems(tmp_path: Path, files: dict[str, str]) -> dict[tuple[str, int | None, str], str]:
    for name, text in files.items():
        (tmp_path / f"{name}.yaml").write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_catalog(tmp_path)
    return {(Path(p.file).name, p.line, p.path): p.message for p in caught.value.problems}


def line_of(text: str, start: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), 1) if line.startswith(start))


@pytest.mark.parametrize("name", ["modules", "dashboards", "dashboard"])
def test_a_module_named_like_a_field_of_the_gateway_is_refused(tmp_path: Path, name: str) -> None:
    found = problems(tmp_path, {"m": module(name)})
    assert list(found) == [("m.yaml", 1, "module")]
    assert f"GraphQL field {name!r}, which the gateway defines itself" in found[("m.yaml", 1, "module")]


def test_a_query_making_the_gateways_field_is_refused_where_it_is_declared(tmp_path: Path) -> None:
    queries = "queries:\n  revisions:\n    window: {last: 1, unit: day}\n    metrics: [events]\n"
    text = module("dashboard", queries)
    found = problems(tmp_path, {"m": text})
    # dashboard itself and dashboardRevisions (dashboard + Revisions), each where it is made.
    assert set(found) == {("m.yaml", 1, "module"), ("m.yaml", line_of(text, "  revisions:"), "queries.revisions")}


def test_two_modules_making_one_root_field_are_refused_naming_the_other(tmp_path: Path) -> None:
    shop = module(
        "shop",
        "queries:\n  with_ads:\n    window: {last: 1, unit: day}\n    metrics: [events]\n"
        "joins:\n  ads: {module: ads, match: {country: country}}\n",
    )
    # shopWithAds twice in one module (a query and a join); shopRecords: a module's own field and shop's records.
    found = problems(tmp_path, {"shop": shop, "ads": module("ads"), "records": module("shop_records")})
    join = ("shop.yaml", line_of(shop, "  ads:"), "joins.ads")
    assert set(found) == {join, ("records.yaml", 1, "module")}, found
    assert found[join] == "makes the GraphQL field 'shopWithAds', as shop does at queries.with_ads; rename one"
    assert "'shopRecords', as shop does at module" in found[("records.yaml", 1, "module")]


def test_row_names_meeting_in_one_camel_case_field_are_refused(tmp_path: Path) -> None:
    text = module(
        "shop", dimensions="  country: {}\n  country_1: {field: country}\n", metrics="  country1: {kind: count}\n"
    )
    found = problems(tmp_path, {"shop": text})
    at = ("shop.yaml", line_of(text, "  country1:"), "metrics.country1")
    assert list(found) == [at]
    assert found[at] == "'country1' is the GraphQL field 'country1', as 'country_1' is; rename one"


def test_a_join_metric_meeting_a_row_field_in_camel_case_is_refused(tmp_path: Path) -> None:
    text = module(
        "shop",
        "joins:\n  ads:\n    module: ads\n    match: {country: country}\n    metrics:\n"
        "      events_2: {kind: ratio, numerator: events, denominator: ads.events}\n",
        metrics="  events2: {kind: count}\n",
    )
    found = problems(tmp_path, {"shop": text, "ads": module("ads")})
    at = ("shop.yaml", line_of(text, "      events_2:"), "joins.ads.metrics.events_2")
    assert list(found) == [at]
    assert found[at] == "'events_2' is the GraphQL field 'events2', as 'events2' is; rename one"
