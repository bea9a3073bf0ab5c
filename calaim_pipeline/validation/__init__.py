"""Judging every line of a plan-month against the rule catalog (DuckDB SQL) and the typed contract."""
