"""The month's eligibility roster and provider directory: staged, judged, shaped for the line rules.

Rosters are input files like the extracts (extract-contract.md; issue 9), so the same promise holds:
every row read ends in exactly one place, kept (the lake's `members` / `providers`) or rejected
(`roster_rejects`, with file, physical line and the roster rules it failed), and a header without a
required column fails the partition naming the file and the column. Encounter lines whose member or
billing provider appears on a rejected roster row say so (MEMBER_ON_REJECTED_ROSTER_ROW,
BILLING_PROVIDER_ON_REJECTED_ROSTER_ROW) instead of reading as an unknown member or provider.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from calaim_pipeline.catalog import Rule, roster_rules
from calaim_pipeline.ingest.contract import (
    MEMBER_COLUMNS,
    MEMBER_REQUIRED,
    PROVIDER_COLUMNS,
    PROVIDER_REQUIRED,
)
from calaim_pipeline.ingest.landing import PlanMonthDrop
from calaim_pipeline.ingest.lines import values_by_line
from calaim_pipeline.ingest.profile_sql import Reading
from calaim_pipeline.ingest.profiles import ActiveProfile
from calaim_pipeline.ingest.reader import SHIFT_BUCKET, StagedFile, shift_bucket_table, stage_csv
from calaim_pipeline.sqltext import sql_str
from calaim_pipeline.validation.sql import EMPTY_LIST, names_where, source_row_sql

UNPARSEABLE_RULE = "ROSTER_ROW_UNPARSEABLE"
MAX_LINES_NAMED = 5  # roster lines a line rule's detail names for one member or provider


@dataclass(frozen=True)
class RosterSpec:
    name: str  # the roster_rejects.roster value and the lake table of kept rows
    index: int  # staging id: never collides with extract files (0..n)
    columns: tuple[str, ...]
    required: tuple[str, ...]
    key: str  # the column encounter lines join on
    key_shape: str  # a key recovered from an unparseable row's raw text must look like this


ROSTERS = (
    RosterSpec(
        "members", 900, MEMBER_COLUMNS, MEMBER_REQUIRED, "member_cin", r"9[0-9]{7}[AC-HMNT-Z]"
    ),
    RosterSpec("providers", 901, PROVIDER_COLUMNS, PROVIDER_REQUIRED, "npi", r"[0-9]{10}"),
)


def _path(drop: PlanMonthDrop, spec: RosterSpec) -> Path:
    return drop.members_file if spec.name == "members" else drop.providers_file


def _roster_rules(rules: Sequence[Rule] | None, roster: str | None = None) -> tuple[Rule, ...]:
    """The roster rules of `rules` (a catalog being loaded passes its own), else of the catalog."""
    if rules is None:
        return roster_rules(roster)
    return tuple(r for r in rules if r.stage == "roster" and (roster is None or r.roster == roster))


def _rules_sql(spec: RosterSpec, rules: Sequence[Rule] | None) -> str:
    """The failed roster rule ids of a staged row, as a list (empty when the row is kept)."""
    rules = _roster_rules(rules, spec.name)
    return names_where([(r.when or "false", sql_str(r.id)) for r in rules]) if rules else EMPTY_LIST


def _messages_map(rules: Sequence[Rule] | None) -> str:
    pairs = ", ".join(f"{sql_str(r.id)}: {sql_str(r.description)}" for r in _roster_rules(rules))
    return "MAP {" + pairs + "}"


def recovered_keys(
    raw_text: str, position: int | None, shape: str, delimiter: str = ","
) -> list[str | None]:
    """The key (CIN or NPI) of each physical line of an unparseable roster record: an unterminated
    quote swallows whole roster rows, whose keys are still where the header says. A value that
    does not look like a key is None, so a shifted column never names somebody else."""
    return [
        value if value is not None and re.fullmatch(shape, value) else None
        for value in values_by_line(raw_text, position, delimiter)
    ]


def _unparseable_tables(staged: dict[str, StagedFile]) -> tuple[pa.Table, pa.Table]:
    """(the unparseable roster rows, every key recovered from them with the row's line)."""
    rows, keys = [], []
    for spec in ROSTERS:
        file = staged[spec.name]
        position = file.header_positions.get(spec.key)
        for row in file.unparseable:
            found = recovered_keys(row["raw_text"], position, spec.key_shape, file.delimiter)
            where = {"roster": spec.name, "source_file": file.path.name, "source_row": row["line"]}
            rows.append(
                where | {"key": found[0], "raw_text": row["raw_text"], "error": row["error"]}
            )
            keys += [where | {"key": key} for key in sorted({k for k in found if k})]
    text = pa.string()
    where = [("roster", text), ("source_file", text), ("source_row", pa.int64())]
    return (
        pa.Table.from_pylist(
            rows, pa.schema([*where, ("key", text), ("raw_text", text), ("error", text)])
        ),
        pa.Table.from_pylist(keys, pa.schema([*where, ("key", text)])),
    )


def _register(con: duckdb.DuckDBPyConnection, name: str, table: pa.Table) -> None:
    con.register(f"_{name}", table)
    con.execute(f"CREATE OR REPLACE TEMP TABLE {name} AS SELECT * FROM _{name}")
    con.unregister(f"_{name}")


def _judge_roster(
    con: duckdb.DuckDBPyConnection,
    spec: RosterSpec,
    staged: StagedFile,
    rules: Sequence[Rule] | None,
) -> None:
    """`<roster>_hits`: parsed rows failing a roster rule (small); `<roster>_kept`: the others;
    `<roster>_out`: the kept rows as the lake stores them."""
    source = (
        f"(SELECT * EXCLUDE (file_row_number), file_row_number AS record "
        f"FROM read_parquet({sql_str(str(staged.staged_path))}, file_row_number=true))"
    )
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE {spec.name}_hits AS "
        f"SELECT h.record, {source_row_sql('h')} AS source_row, h.{spec.key} AS key, h.rule_ids "
        f"FROM (SELECT record, {spec.key}, {_rules_sql(spec, rules)} AS rule_ids FROM {source} "
        f"WHERE len(rule_ids) > 0) h "
        f"LEFT JOIN roster_buckets sb ON sb.file_index = {staged.index} "
        f"AND sb.bucket = h.record // {SHIFT_BUCKET}"
    )
    con.execute(
        f"CREATE OR REPLACE TEMP VIEW {spec.name}_kept AS SELECT * FROM {source} "
        f"WHERE record NOT IN (SELECT record FROM {spec.name}_hits)"
    )
    # What the lake's members/providers table holds: the kept rows with their file and line.
    con.execute(
        f"CREATE OR REPLACE TEMP VIEW {spec.name}_out AS "
        f"SELECT k.* EXCLUDE (record), {sql_str(staged.path.name)} AS source_file, "
        f"{source_row_sql('k')} AS source_row FROM {spec.name}_kept k "
        f"LEFT JOIN roster_buckets sb ON sb.file_index = {staged.index} "
        f"AND sb.bucket = k.record // {SHIFT_BUCKET} ORDER BY k.record"
    )


def _rejects_sql(staged: dict[str, StagedFile], rules: Sequence[Rule] | None) -> str:
    """Parsed rows that failed a roster rule, then the unparseable rows, one row each."""
    messages = _messages_map(rules)
    parts = []
    for spec in ROSTERS:
        member = "key" if spec.key == "member_cin" else "CAST(NULL AS VARCHAR)"
        npi = "key" if spec.key == "npi" else "CAST(NULL AS VARCHAR)"
        parts.append(
            f"SELECT {sql_str(spec.name)} AS roster, {sql_str(staged[spec.name].path.name)} AS source_file, "
            f"source_row, {member} AS member_cin, {npi} AS npi, CAST(NULL AS VARCHAR) AS raw_text, "
            f"rule_ids, list_transform(rule_ids, lambda r: r || ': ' || {messages}[r]) AS messages, "
            f"CAST(NULL AS VARCHAR) AS details FROM {spec.name}_hits"
        )
    parts.append(
        "SELECT roster, source_file, source_row, "
        "CASE WHEN roster = 'members' THEN key END AS member_cin, "
        "CASE WHEN roster = 'providers' THEN key END AS npi, raw_text, "
        f"['{UNPARSEABLE_RULE}'] AS rule_ids, "
        f"['{UNPARSEABLE_RULE}: ' || {messages}['{UNPARSEABLE_RULE}']] AS messages, "
        "error AS details FROM roster_unparseable"
    )
    return "\nUNION ALL BY NAME\n".join(parts)


def _rejected_keys_sql(spec: RosterSpec, file_name: str) -> str:
    """Keys on rejected rows of one roster, with the lines a line rule's detail names
    (`members.csv line 7`, `providers.csv lines 3, 9`): file and line, never the key itself."""
    lines = f"list_slice(list(DISTINCT source_row ORDER BY source_row), 1, {MAX_LINES_NAMED})"
    return (
        f"SELECT key, {sql_str(file_name)} || CASE WHEN count(DISTINCT source_row) > 1 "
        f"THEN ' lines ' ELSE ' line ' END || array_to_string({lines}, ', ') AS lines "
        f"FROM (SELECT key, source_row FROM roster_unparseable_keys WHERE roster = {sql_str(spec.name)} "
        f"UNION ALL SELECT key, source_row FROM {spec.name}_hits WHERE key IS NOT NULL) GROUP BY key"
    )


def load_rosters(
    con: duckdb.DuckDBPyConnection,
    drop: PlanMonthDrop,
    work_dir: Path,
    rules: Sequence[Rule] | None = None,
    profile: ActiveProfile | None = None,
) -> dict[str, Any]:
    """Stage and judge both rosters; create the kept views, `roster_rejects` and the lookups the
    line rules join (roster_members, billing_providers_ok, rejected_roster_members/_providers).
    Returns per roster what was read (the written files are counted in `roster_counts`)."""
    staged = {
        spec.name: stage_csv(
            con,
            _path(drop, spec),
            spec.index,
            work_dir / f"roster_{spec.name}.parquet",
            spec.required,
            spec.columns,
            Reading(profile, spec.name, drop.plan) if profile is not None else None,
        )
        for spec in ROSTERS
    }
    _register(con, "roster_buckets", shift_bucket_table(list(staged.values())))
    unparseable, keys = _unparseable_tables(staged)
    _register(con, "roster_unparseable", unparseable)
    _register(con, "roster_unparseable_keys", keys)
    for spec in ROSTERS:
        _judge_roster(con, spec, staged[spec.name], rules)
    con.execute(f"CREATE OR REPLACE TEMP TABLE roster_rejects AS {_rejects_sql(staged, rules)}")
    _shape_for_line_rules(con, {spec.name: staged[spec.name].path.name for spec in ROSTERS})
    return {
        spec.name: {
            "file": staged[spec.name].path.name,
            "rows_read": staged[spec.name].records + len(staged[spec.name].unparseable),
            "unparseable": len(staged[spec.name].unparseable),
            "unparseable_lines": [row["line"] for row in staged[spec.name].unparseable][:5],
            "extra_columns": staged[spec.name].extra_columns,
        }
        for spec in ROSTERS
    }


def _shape_for_line_rules(con: duckdb.DuckDBPyConnection, file_names: dict[str, str]) -> None:
    members, providers = ROSTERS
    # Kept rows passed the enrollment date rules; TRY_CAST keeps this safe if rules.yaml changes.
    spans = (
        "SELECT member_cin, record, gender, county_code, "
        "TRY_CAST(enrollment_start AS DATE) AS d_start, "
        "coalesce(TRY_CAST(enrollment_end AS DATE), DATE '9999-12-31') AS d_end FROM members_kept"
    )
    con.execute(
        "CREATE OR REPLACE TEMP VIEW roster AS SELECT member_cin, d_start, d_end "
        f"FROM ({spans}) WHERE member_cin IS NOT NULL AND d_start IS NOT NULL"
    )
    # One row per member: attributes of its first kept roster row and every enrollment span, so
    # the line rules join once on the CIN instead of running a correlated subquery per line.
    con.execute(
        "CREATE OR REPLACE TEMP TABLE roster_members AS "
        "SELECT member_cin AS roster_cin, first(gender ORDER BY record) AS roster_gender, "
        "first(county_code ORDER BY record) AS roster_county, "
        "list({'d_start': d_start, 'd_end': d_end}) FILTER (d_start IS NOT NULL) AS roster_spans "
        f"FROM ({spans}) WHERE member_cin IS NOT NULL GROUP BY member_cin"
    )
    con.execute(
        "CREATE OR REPLACE TEMP TABLE billing_providers_ok AS SELECT DISTINCT npi FROM providers_kept "
        "WHERE regexp_full_match(tax_id, '[0-9]{9}') AND regexp_full_match(zip, '[0-9]{9}')"
    )
    for spec, table in (
        (members, "rejected_roster_members"),
        (providers, "rejected_roster_providers"),
    ):
        con.execute(
            f"CREATE OR REPLACE TEMP TABLE {table} AS "
            f"{_rejected_keys_sql(spec, file_names[spec.name])}"
        )


def roster_counts(
    con: duckdb.DuckDBPyConnection, read: dict[str, Any], out_dir: Path
) -> dict[str, Any]:
    """Per roster: rows read, kept (counted in the written lake file), rejected (counted in the
    written roster_rejects file), the rule counts, and whether read = kept + rejected. Counts and
    the file name only: never a key or a name (the checks show this)."""
    rejects = sql_str(str(out_dir / "roster_rejects.parquet"))
    result = {}
    for spec in ROSTERS:
        ((kept,),) = con.execute(
            f"SELECT count(*) FROM read_parquet({sql_str(str(out_dir / f'{spec.name}.parquet'))})"
        ).fetchall()
        ((rejected,),) = con.execute(
            f"SELECT count(*) FROM read_parquet({rejects}) WHERE roster = {sql_str(spec.name)}"
        ).fetchall()
        counts = con.execute(
            f"SELECT rule_id, count(*) FROM (SELECT unnest(rule_ids) AS rule_id FROM read_parquet({rejects}) "
            f"WHERE roster = {sql_str(spec.name)}) GROUP BY ALL ORDER BY ALL"
        ).fetchall()
        lines = con.execute(
            f"SELECT source_row FROM read_parquet({rejects}) WHERE roster = {sql_str(spec.name)} "
            "ORDER BY source_row LIMIT 5"
        ).fetchall()
        info = read[spec.name]
        result[spec.name] = {
            **info,
            "kept": int(kept),
            "rejected": int(rejected),
            "reconciles": info["rows_read"] == kept + rejected,
            "rule_counts": {rule: int(n) for rule, n in counts},
            "example_lines": [int(line) for (line,) in lines],
        }
    return result
