"""Quoting values into DuckDB SQL text (paths, codes and names that come from configuration)."""

from __future__ import annotations

from collections.abc import Iterable


def sql_str(value: str) -> str:
    """A single-quoted SQL string literal."""
    return "'" + value.replace("'", "''") + "'"


def sql_ident(name: str) -> str:
    """A double-quoted SQL identifier (column names from a plan's header)."""
    return '"' + name.replace('"', '""') + '"'


def sql_list(values: Iterable[str]) -> str:
    """Comma-separated string literals, for IN (...) and list literals."""
    return ", ".join(sql_str(v) for v in values)
