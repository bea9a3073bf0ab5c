"""Synthetic Medi-Cal encounter extracts with an answer key (truth files).

Dagster-free on purpose: the generator is used by tests, scripts and the CLI alike.
"""

from .generator import DEFAULT_MONTHS, DEFAULT_PLAN_LINES, TRUTH_COLUMNS, generate_sample

__all__ = ["DEFAULT_MONTHS", "DEFAULT_PLAN_LINES", "TRUTH_COLUMNS", "generate_sample"]
