"""Ingestion settings (STRIX_INGESTION_*). Read once by the composition root."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class IngestionSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="STRIX_INGESTION_", extra="forbid")

    stream_max_bytes: int | None = Field(
        default=None,
        description="Bytes of unread events a module's stream may hold before ingestion answers 503 "
        "(default 4 GiB when the stream is created).",
    )
