"""The SQL that judges lines: typed columns, lookup flags, then one list of failed rule ids per row.

The judged relation exposes these columns to the catalog's `when` expressions:
- every contract column, trimmed, empty -> NULL; diagnoses upper-cased without dots; a 3-digit
  revenue code left-padded with 0
- d_received, d_paid, d_from, d_to, d_admit, d_discharge: DATE, NULL when absent or unparseable
- n_units, n_billed, n_paid: DECIMAL, NULL when not a well-formed number; line_no: INTEGER >= 1
- modifiers: list of present modifiers; missing_fields, bad_dates, bad_diagnoses: lists of names
- billing/rendering/attending_npi_ok: check digit (NULL when empty); billing_provider_ok
- member_on_roster, member_enrolled, member_gender, member_county
- claim_fields_disagree, line_number_repeated, duplicate_in_month, pointers_ok, ecm_cs_allowed,
  units_bound
"""

from __future__ import annotations

from datetime import date

from calaim_pipeline.catalog import Rule
from calaim_pipeline.ingest.contract import (
    ALWAYS_REQUIRED,
    CLAIM_LEVEL_COLUMNS,
    DATE_COLUMNS,
    DIAGNOSIS_COLUMNS,
    ENCOUNTER_COLUMNS,
    MODIFIER_COLUMNS,
    REQUIRED_FOR_INSTITUTIONAL,
    REQUIRED_FOR_PROFESSIONAL,
)
from calaim_pipeline.ingest.reader import SHIFT_BUCKET
from calaim_pipeline.settings import Thresholds

DATE_SHAPE = r"[0-9]{4}-[0-9]{2}-[0-9]{2}"
AMOUNT_SHAPE = r"[0-9]{1,15}(\.[0-9]{1,2})?"
UNITS_SHAPE = r"[0-9]{1,9}(\.[0-9]{1,3})?"
POSITION_STRIDE = (
    1_000_000_000_000  # pos = file_index * stride + record index: file order, then row
)


def sql_str(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def sql_list(values: list[str] | tuple[str, ...]) -> str:
    return ", ".join(sql_str(v) for v in values)


def dup_key_columns() -> list[str]:
    """The service-line identity PACES compares (domain.md): member, NPIs, date, code, modifiers."""
    return [
        "member_cin",
        "billing_npi",
        "rendering_npi",
        "service_from_date",
        "procedure_code",
        "revenue_code",
        f"list_sort(list_filter([{', '.join(MODIFIER_COLUMNS)}], lambda m: m IS NOT NULL))",
    ]


def claim_set_tables_sql() -> list[str]:
    """Set-level rules computed once per month as small tables joined back to the lines."""
    claim_hash = f"hash({', '.join(CLAIM_LEVEL_COLUMNS)})"
    key = ", ".join(dup_key_columns())
    return [
        "CREATE OR REPLACE TEMP TABLE disagree_claims AS SELECT claim_id FROM lines "
        f"WHERE claim_id IS NOT NULL GROUP BY claim_id HAVING min({claim_hash}) <> max({claim_hash})",
        "CREATE OR REPLACE TEMP TABLE repeated_line_numbers AS SELECT claim_id, line_number "
        "FROM lines WHERE claim_id IS NOT NULL AND line_number IS NOT NULL "
        "GROUP BY ALL HAVING count(*) > 1",
        # Hash first to find the few candidate groups cheaply, then compare real values.
        "CREATE OR REPLACE TEMP TABLE duplicate_positions AS "
        f"WITH keyed AS (SELECT pos, hash({key}) AS h FROM lines WHERE frequency_code = '1'), "
        "candidate_hashes AS (SELECT h FROM keyed GROUP BY h HAVING count(*) > 1), "
        "candidates AS (SELECT pos FROM keyed WHERE h IN (SELECT h FROM candidate_hashes)) "
        f"SELECT pos FROM (SELECT pos, row_number() OVER (PARTITION BY {key} ORDER BY pos) AS rn "
        "FROM lines WHERE pos IN (SELECT pos FROM candidates)) WHERE rn > 1",
    ]


def _missing_fields_sql(thresholds: Thresholds) -> str:
    inpatient = sql_list(thresholds.inpatient_facility_types.value)
    checks = [f"CASE WHEN {c} IS NULL THEN '{c}' END" for c in ALWAYS_REQUIRED]
    checks += [
        f"CASE WHEN claim_type = 'P' AND {c} IS NULL THEN '{c}' END"
        for c in REQUIRED_FOR_PROFESSIONAL
    ]
    checks += [
        f"CASE WHEN claim_type = 'I' AND {c} IS NULL THEN '{c}' END"
        for c in REQUIRED_FOR_INSTITUTIONAL
    ]
    checks.append(
        f"CASE WHEN claim_type = 'I' AND facility_type_code IN ({inpatient}) "
        "AND admission_date IS NULL THEN 'admission_date' END"
    )
    return f"list_filter([{', '.join(checks)}], lambda x: x IS NOT NULL)"


def _units_bound_sql(thresholds: Thresholds) -> str:
    bounds = dict(thresholds.units_bound.value)
    default = bounds.pop("default")
    cases = " ".join(f"WHEN {sql_str(str(code))} THEN {float(b)}" for code, b in bounds.items())
    return f"(CASE procedure_code {cases} ELSE {float(default)} END)" if cases else str(default)


def typed_sql(thresholds: Thresholds) -> str:
    """Stage 1: typed values and per-row lists, from the `lines` view."""
    dates = ",\n  ".join(
        f"CASE WHEN regexp_full_match({col}, '{DATE_SHAPE}') THEN TRY_CAST({col} AS DATE) END AS {alias}"
        for col, alias in DATE_COLUMNS.items()
    )
    bad_dates = ", ".join(
        f"CASE WHEN {col} IS NOT NULL AND NOT (regexp_full_match({col}, '{DATE_SHAPE}') "
        f"AND TRY_CAST({col} AS DATE) IS NOT NULL) THEN '{col}' END"
        for col in DATE_COLUMNS
    )
    bad_dx = ", ".join(
        f"CASE WHEN {c} IN (SELECT code FROM bad_diagnosis_codes) THEN '{c}' END"
        for c in DIAGNOSIS_COLUMNS
    )

    def npi_ok(col: str) -> str:
        return f"CASE WHEN {col} IS NULL THEN NULL ELSE {col} NOT IN (SELECT npi FROM bad_npis) END"

    return f"""
SELECT l.*,
  {dates},
  CASE WHEN regexp_full_match(units, '{UNITS_SHAPE}') THEN CAST(units AS DECIMAL(12,3)) END AS n_units,
  CASE WHEN regexp_full_match(billed_amount, '{AMOUNT_SHAPE}') THEN CAST(billed_amount AS DECIMAL(18,2)) END AS n_billed,
  CASE WHEN regexp_full_match(paid_amount, '{AMOUNT_SHAPE}') THEN CAST(paid_amount AS DECIMAL(18,2)) END AS n_paid,
  CASE WHEN regexp_full_match(line_number, '[0-9]{{1,4}}') AND CAST(line_number AS INTEGER) >= 1
       THEN CAST(line_number AS INTEGER) END AS line_no,
  list_filter([{", ".join(MODIFIER_COLUMNS)}], lambda m: m IS NOT NULL) AS modifiers,
  {_missing_fields_sql(thresholds)} AS missing_fields,
  list_filter([{bad_dates}], lambda x: x IS NOT NULL) AS bad_dates,
  list_filter([{bad_dx}], lambda x: x IS NOT NULL) AS bad_diagnoses,
  {npi_ok("billing_npi")} AS billing_npi_ok,
  {npi_ok("rendering_npi")} AS rendering_npi_ok,
  {npi_ok("attending_npi")} AS attending_npi_ok,
  billing_npi IN (SELECT npi FROM billing_providers_ok) AS billing_provider_ok,
  rm.roster_cin IS NOT NULL AS member_on_roster,
  rm.roster_gender AS member_gender,
  rm.roster_county AS member_county,
  rm.roster_spans AS member_spans,
  claim_id IN (SELECT claim_id FROM disagree_claims) AS claim_fields_disagree,
  (claim_id, line_number) IN (SELECT (claim_id, line_number) FROM repeated_line_numbers) AS line_number_repeated,
  pos IN (SELECT pos FROM duplicate_positions) AS duplicate_in_month,
  regexp_full_match(diagnosis_pointers, '[0-9]{{1,2}}( *, *[0-9]{{1,2}}){{0,3}}')
    AND list_aggregate(list_transform(string_split(diagnosis_pointers, ','),
          lambda p: TRY_CAST(TRIM(p) AS INTEGER) BETWEEN 1 AND 12
               AND [{", ".join(DIAGNOSIS_COLUMNS)}][TRY_CAST(TRIM(p) AS INTEGER)] IS NOT NULL), 'bool_and')
    AS pointers_ok,
  {_units_bound_sql(thresholds)} AS units_bound,
  l.record + 2 + coalesce(sb.base, 0)
    + coalesce(len(list_filter(sb.offsets, lambda a: a <= l.record)), 0) AS source_row
FROM lines l
LEFT JOIN roster_members rm ON rm.roster_cin = l.member_cin
LEFT JOIN shift_buckets sb ON sb.file_index = l.file_index AND sb.bucket = l.record // {SHIFT_BUCKET}
"""


def flags_sql() -> str:
    """Stage 2: lookups that need the typed dates (enrollment span, ECM/CS effective dates)."""
    return """
SELECT t.*,
  coalesce(list_bool_or(list_transform(t.member_spans,
      lambda s: t.d_from BETWEEN s.d_start AND s.d_end)), false) AS member_enrolled,
  e.allowed AS ecm_cs_allowed
FROM typed t
LEFT JOIN ecm_cs e ON e.hcpcs = t.procedure_code AND t.d_from BETWEEN e.d_start AND e.d_end
"""


def render_when(rule: Rule, values: dict[str, str]) -> str:
    """Fill the catalog's {placeholders}; only known names are replaced so regex braces survive."""
    text = rule.when or "false"
    for key, value in values.items():
        text = text.replace("{" + key + "}", value)
    return text


def rule_values(
    plan: str, month_start: date, month_end: date, today: date, thresholds: Thresholds
) -> dict[str, str]:
    return {
        "plan": plan.replace("'", "''"),
        "month_start": month_start.isoformat(),
        "month_end": month_end.isoformat(),
        "today": today.isoformat(),
        "valid_pos": sql_list(thresholds.valid_place_of_service.value),
    }


def judged_sql(rules: list[Rule], values: dict[str, str]) -> str:
    """Stage 3: one list of failed reject rules, one of warn rules, and a details text per row."""

    def ids(severity: str) -> str:
        parts = [
            f"CASE WHEN coalesce(({render_when(r, values)}), false) THEN '{r.id}' END"
            for r in rules
            if r.severity == severity
        ]
        return (
            f"list_filter([{', '.join(parts)}], lambda x: x IS NOT NULL)"
            if parts
            else "[]::VARCHAR[]"
        )

    details = [
        f"CASE WHEN coalesce(({render_when(r, values)}), false) THEN '{r.id}: ' || ({r.detail}) END"
        for r in rules
        if r.detail
    ]
    details_sql = f"concat_ws('; ', {', '.join(details)})" if details else "NULL"
    kept = ", ".join(
        [
            *ENCOUNTER_COLUMNS,
            *("source_file", "source_row", "pos"),
            *DATE_COLUMNS.values(),
            *("n_units", "n_billed", "n_paid", "line_no"),
        ]
    )
    return f"""
SELECT {kept},
  ecm_cs_allowed IS NOT NULL AS is_ecm_cs,
  {ids("reject")} AS own_reject_rule_ids,
  {ids("warn")} AS warn_rule_ids,
  NULLIF({details_sql}, '') AS details
FROM flags f
"""
