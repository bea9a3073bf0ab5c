"""Dagster objects, split by concern; loaded by definitions.py with load_from_defs_folder."""
