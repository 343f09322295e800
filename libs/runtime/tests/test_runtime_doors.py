"""Door options from settings: embedded mode opens the schema and loopback metrics, nothing else does."""

from __future__ import annotations

from pydantic import SecretStr

from strix_runtime.callers import DoorOptions
from strix_runtime.settings import StrixSettings


def test_embedded_mode_opens_the_schema_and_loopback_metrics_and_nothing_else_does() -> None:
    embedded = DoorOptions.from_settings(StrixSettings(), embedded=True)
    assert (embedded.open_schema, embedded.developer_graphiql) == (True, True)
    assert embedded.metrics.allows(None, "127.0.0.1") and embedded.metrics.allows(None, "::1")
    assert not embedded.metrics.allows(None, "10.1.2.3")

    served = DoorOptions.from_settings(StrixSettings(), embedded=False)
    assert (served.open_schema, served.developer_graphiql, served.cors_origins) == (False, False, ())
    assert not served.metrics.allows(None, "127.0.0.1")


def test_settings_choose_explicitly() -> None:
    settings = StrixSettings(
        open_schema=True,
        cors_origins=["https://ui.example"],
        metrics_token=SecretStr("scrape"),
        metrics_networks=["10.0.0.0/8"],
    )
    served = DoorOptions.from_settings(settings, embedded=False)
    assert served.open_schema and not served.developer_graphiql  # never a dev token outside embedded mode
    assert served.cors_origins == ("https://ui.example",)
    assert served.metrics.allows("Bearer scrape", "192.168.0.1") and served.metrics.allows(None, "10.9.9.9")
    assert not served.metrics.allows("Bearer nope", "192.168.0.1")
    closed = DoorOptions.from_settings(StrixSettings(open_schema=False, metrics_networks=[]), embedded=True)
    assert not closed.open_schema and not closed.developer_graphiql
    assert not closed.metrics.allows(None, "127.0.0.1")
