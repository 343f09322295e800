"""A config that drops a metric or a dimension deprecates it in the GraphQL schema instead of silently dropping
it: integrators' saved queries fail with a clear reason, and the playground shows what went."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.conftest import EXAMPLE_CONFIGS, PlatformFactory
from tests.support import graphql

pytestmark = pytest.mark.e2e

INTROSPECT = """{
  metrics: __type(name: "ClickstreamMetric") { enumValues(includeDeprecated: true) { name isDeprecated deprecationReason } }
  dims: __type(name: "ClickstreamDimension") { enumValues(includeDeprecated: true) { name isDeprecated } }
  row: __type(name: "ClickstreamRow") { fields(includeDeprecated: true) { name isDeprecated } }
}"""


def _without_max_price_and_device(directory: Path) -> Path:
    directory.mkdir()
    for path in EXAMPLE_CONFIGS.glob("*.yaml"):
        shutil.copy(path, directory / path.name)
    path = directory / "clickstream.yaml"
    lines = [
        line for line in path.read_text().splitlines() if not line.lstrip().startswith(("max_price:", "device: {label"))
    ]
    path.write_text("\n".join(lines).replace(", device]", "]") + "\n")
    return directory


async def test_removed_metric_and_dimension_are_deprecated_not_dropped(
    tmp_path: Path, start_platform: PlatformFactory
) -> None:
    async with start_platform(EXAMPLE_CONFIGS) as (_, client):
        body = await graphql(client, INTROSPECT)
        assert not any(v["isDeprecated"] for v in body["data"]["metrics"]["enumValues"])

    async with start_platform(_without_max_price_and_device(tmp_path / "v2")) as (_, client):
        body = await graphql(client, INTROSPECT)
        metrics = {v["name"]: v for v in body["data"]["metrics"]["enumValues"]}
        dims = {v["name"]: v for v in body["data"]["dims"]["enumValues"]}
        fields = {f["name"]: f for f in body["data"]["row"]["fields"]}
        assert (
            metrics["MAX_PRICE"]["isDeprecated"]
            and "Removed from the module config" in metrics["MAX_PRICE"]["deprecationReason"]
        )
        assert (
            dims["DEVICE"]["isDeprecated"] and fields["maxPrice"]["isDeprecated"] and fields["device"]["isDeprecated"]
        )
        assert not metrics["REVENUE"]["isDeprecated"] and not dims["COUNTRY"]["isDeprecated"]

        body = await graphql(
            client, "{ clickstream(window: {last: 1, unit: DAY}, metrics: [MAX_PRICE]) { rows { bucket } } }"
        )
        error = body["errors"][0]
        assert "max_price" in error["message"] and error["extensions"]["argument"] == "metrics"
