"""Compare what the pipeline wrote to the lake with the generator's truth file, row by row."""

from __future__ import annotations

from pathlib import Path

import duckdb

from calaim_pipeline.lake import partition_file


def mismatches(root: Path, plan: str, month: str) -> list[tuple]:
    """Rows whose outcome, reject rules or warn rules differ from truth.csv (empty = exact match)."""
    lake = root / "lake"
    rejects = partition_file(lake, "encounter_rejects", plan, month)
    accepted = partition_file(lake, "encounter_lines", plan, month)
    truth = root / "truth" / plan / month / "truth.csv"
    query = f"""
    WITH produced AS (
      SELECT source_file, source_row, 'rejected' AS outcome,
             array_to_string(list_sort(rule_ids), '|') AS reject_rules,
             array_to_string(list_sort(warn_rule_ids), '|') AS warn_rules
      FROM read_parquet('{rejects}')
      UNION ALL
      SELECT source_file, source_row, 'accepted', '', array_to_string(list_sort(warn_rule_ids), '|')
      FROM read_parquet('{accepted}') WHERE len(warn_rule_ids) > 0
    ), expected AS (
      SELECT source_file, CAST(source_row AS BIGINT) AS source_row, outcome,
             coalesce(reject_rules, '') AS reject_rules, coalesce(warn_rules, '') AS warn_rules
      FROM read_csv('{truth}', all_varchar = true)
    )
    SELECT coalesce(p.source_file, e.source_file) AS file, coalesce(p.source_row, e.source_row) AS line,
           p.outcome, p.reject_rules, p.warn_rules, e.outcome, e.reject_rules, e.warn_rules
    FROM produced p FULL OUTER JOIN expected e USING (source_file, source_row)
    WHERE p.outcome IS DISTINCT FROM e.outcome OR p.reject_rules IS DISTINCT FROM e.reject_rules
       OR p.warn_rules IS DISTINCT FROM e.warn_rules
    ORDER BY file, line
    """
    return duckdb.sql(query).fetchall()


def truth_rule_ids(root: Path) -> set[str]:
    rows = duckdb.sql(
        f"SELECT DISTINCT unnest(string_split(concat_ws('|', reject_rules, warn_rules), '|')) "
        f"FROM read_csv('{root}/truth/*/*/truth.csv', all_varchar = true)"
    ).fetchall()
    return {r[0] for r in rows if r[0]}
