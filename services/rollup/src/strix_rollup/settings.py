"""Rollup settings (STRIX_ROLLUP_*). Read once by the composition root; logic receives BatchLimits."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from strix_rollup.lag import POLL_SECONDS, STALL_SECONDS


class RollupSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="STRIX_ROLLUP_", extra="forbid")

    max_messages: int = Field(default=100, ge=1, description="Messages per microbatch (up to 500 events each).")
    ack_wait: float = Field(
        default=30.0, gt=0, description="Seconds before JetStream re-delivers an unacked message to the partition."
    )
    priority_timeout: float = Field(
        default=5.0, gt=0, description="Seconds without pulls after which a partition moves to another replica."
    )
    stall_seconds: float = Field(
        default=STALL_SECONDS,
        gt=0,
        description="Readiness fails when a partition this replica serves has events waiting and no progress for this long.",
    )
    joint: bool | None = Field(
        default=None,
        description="One loop per module inserting a batch of every partition as one block (default: over chDB).",
    )
    lag_poll_seconds: float = Field(
        default=POLL_SECONDS,
        gt=0,
        description="Seconds between two readings of the partitions' lag (metrics and readiness).",
    )
