"""The module config: the single source of truth every Strix service reads."""

from strix_config.catalog import Catalog, load_catalog
from strix_config.errors import ConfigError, ConfigProblem
from strix_config.granularities import GRANULARITIES, GRANULARITY_SECONDS, GranularitySpec
from strix_config.model import (
    Dimension,
    EventField,
    FieldType,
    Granularity,
    Metric,
    ModuleConfig,
    Rollup,
)

__all__ = [
    "GRANULARITIES",
    "GRANULARITY_SECONDS",
    "Catalog",
    "ConfigError",
    "ConfigProblem",
    "Dimension",
    "EventField",
    "FieldType",
    "Granularity",
    "GranularitySpec",
    "Metric",
    "ModuleConfig",
    "Rollup",
    "load_catalog",
]
