"""ClickHouse for Strix: objects planned from module configs, and one client over chDB or a server."""

from strix_clickhouse.client import ClickHouse, QueryResult, connect
from strix_clickhouse.ddl import Statement, plan_module

__all__ = ["ClickHouse", "QueryResult", "Statement", "connect", "plan_module"]
