"""The SQL that judges lines: typed columns, lookup flags, then one list of failed rule ids per row.

The judged relation exposes these columns to the catalog's `when` expressions:
- every contract column, trimmed, empty -> NULL; diagnoses upper-cased without dots; a 3-digit
  revenue code left-padded with 0
- d_received, d_paid, d_from, d_to, d_admit, d_discharge: DATE, NULL when absent or unparseable
- n_units, n_billed, n_paid: DECIMAL, NULL when not a well-formed number; line_no: INTEGER >= 1
- modifiers: list of present modifiers; missing_fields, bad_dates, bad_diagnoses: lists of names
- billing/rendering/attending_npi_ok: check digit (NULL when empty); billing_provider_ok
- member_on_roster, member_enrolled, member_gender, member_county (kept roster rows only)
- member_rejected_roster_rows, billing_rejected_roster_rows: NULL, or the roster file and lines
  (`members.csv line 7`) of rejected roster rows holding the line's CIN / billing NPI
- claim_fields_disagree, line_number_repeated, duplicate_in_month, pointers_ok, ecm_cs_allowed,
  units_bound
- submitted_in_other_month, original_not_in_ledger: the ledger rules (submission.ledger)
- missing_inpatient_fields, admitting_dx_billable: the inpatient 837I admission fields (issue #14)
- original_dhcs_status: for a replacement or void whose original has no DHCS ICN, `rejected` or
  `awaiting` (ledger.encounter_status); NULL otherwise
"""

from __future__ import annotations

from datetime import date

from calaim_pipeline.catalog import Rule, code_lists
from calaim_pipeline.ingest.contract import (
    ALWAYS_REQUIRED,
    CLAIM_LEVEL_COLUMNS,
    DATE_COLUMNS,
    DIAGNOSIS_COLUMNS,
    INPATIENT_REQUIRED,
    MODIFIER_COLUMNS,
    REQUIRED_FOR_INSTITUTIONAL,
    REQUIRED_FOR_PROFESSIONAL,
)
from calaim_pipeline.ingest.reader import SHIFT_BUCKET
from calaim_pipeline.settings import Thresholds
from calaim_pipeline.sqltext import sql_list, sql_str

DATE_SHAPE = r"[0-9]{4}-[0-9]{2}-[0-9]{2}"
AMOUNT_SHAPE = r"[0-9]{1,15}(\.[0-9]{1,2})?"
UNITS_SHAPE = r"[0-9]{1,9}(\.[0-9]{1,3})?"
POSITION_STRIDE = (
    1_000_000_000_000  # pos = file_index * stride + record index: file order, then row
)


EMPTY_LIST = "CAST([] AS VARCHAR[])"
CLAIM_RULE = "CLAIM_HAS_REJECTED_LINE"


def names_where(cases: list[tuple[str, str]]) -> str:
    """The names whose condition holds, as a list; rows where none holds (nearly all of them)
    skip building a list at all, which is most of the cost of a per-row list."""
    if not cases:
        return EMPTY_LIST
    anything = " OR ".join(f"coalesce(({condition}), false)" for condition, _ in cases)
    items = ", ".join(
        f"CASE WHEN coalesce(({condition}), false) THEN {name} END" for condition, name in cases
    )
    return f"(CASE WHEN {anything} THEN list_filter([{items}], lambda x: x IS NOT NULL) ELSE {EMPTY_LIST} END)"


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


def duplicate_key_sql() -> str:
    """The same identity as one text value, so a line can be compared with lines of other months
    kept in the submission ledger. Works on raw text columns and on the typed accepted lines
    (a DATE casts to the same YYYY-MM-DD text)."""
    parts = [f"coalesce(CAST({c} AS VARCHAR), '')" for c in dup_key_columns()[:-1]]
    modifiers = dup_key_columns()[-1]
    return f"concat_ws('|', {', '.join(parts)}, array_to_string({modifiers}, ','))"


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
    cases = [(f"{c} IS NULL", f"'{c}'") for c in ALWAYS_REQUIRED]
    cases += [(f"claim_type = 'P' AND {c} IS NULL", f"'{c}'") for c in REQUIRED_FOR_PROFESSIONAL]
    cases += [(f"claim_type = 'I' AND {c} IS NULL", f"'{c}'") for c in REQUIRED_FOR_INSTITUTIONAL]
    cases.append(
        (
            f"claim_type = 'I' AND facility_type_code IN ({inpatient}) AND admission_date IS NULL",
            "'admission_date'",
        )
    )
    return names_where(cases)


def _missing_inpatient_sql(thresholds: Thresholds) -> str:
    """The inpatient admission fields (INPATIENT_REQUIRED) an inpatient 837I claim leaves empty."""
    inpatient = sql_list(thresholds.inpatient_facility_types.value)
    scope = f"claim_type = 'I' AND facility_type_code IN ({inpatient})"
    return names_where([(f"{scope} AND {c} IS NULL", f"'{c}'") for c in INPATIENT_REQUIRED])


def _units_bound_sql(thresholds: Thresholds) -> str:
    bounds = dict(thresholds.units_bound.value)
    default = bounds.pop("default")
    cases = " ".join(f"WHEN {sql_str(str(code))} THEN {float(b)}" for code, b in bounds.items())
    return f"(CASE procedure_code {cases} ELSE {float(default)} END)" if cases else str(default)


def typed_values_sql() -> str:
    """Dates, amounts, units and line number as typed values (NULL when absent or malformed)."""
    dates = [
        f"CASE WHEN regexp_full_match({col}, '{DATE_SHAPE}') THEN TRY_CAST({col} AS DATE) END AS {alias}"
        for col, alias in DATE_COLUMNS.items()
    ]
    return ",\n  ".join(
        [
            *dates,
            f"CASE WHEN regexp_full_match(units, '{UNITS_SHAPE}') THEN CAST(units AS DECIMAL(12,3)) END AS n_units",
            f"CASE WHEN regexp_full_match(billed_amount, '{AMOUNT_SHAPE}') THEN CAST(billed_amount AS DECIMAL(18,2)) END AS n_billed",
            f"CASE WHEN regexp_full_match(paid_amount, '{AMOUNT_SHAPE}') THEN CAST(paid_amount AS DECIMAL(18,2)) END AS n_paid",
            "CASE WHEN regexp_full_match(line_number, '[0-9]{1,4}') AND CAST(line_number AS INTEGER) >= 1 "
            "THEN CAST(line_number AS INTEGER) END AS line_no",
        ]
    )


def accepted_values_sql() -> str:
    """The typed values for output. Only accepted rows are written typed, and they have passed
    DATE_UNPARSEABLE, AMOUNT_INVALID, UNITS_INVALID and LINE_NUMBER_INVALID, so a plain cast gives
    the same value as typed_values_sql without its regular expressions."""
    dates = [f"TRY_CAST({col} AS DATE) AS {alias}" for col, alias in DATE_COLUMNS.items()]
    return ",\n  ".join(
        [
            *dates,
            "TRY_CAST(units AS DECIMAL(12,3)) AS n_units",
            "TRY_CAST(billed_amount AS DECIMAL(18,2)) AS n_billed",
            "TRY_CAST(paid_amount AS DECIMAL(18,2)) AS n_paid",
            "TRY_CAST(line_number AS INTEGER) AS line_no",
        ]
    )


def source_row_sql(alias: str = "l") -> str:
    """A record's physical line: its position + header + the shift of the last break at or before
    it (reader.shift_buckets; a bucket row exists only where some record took more than a line)."""
    return (
        f"{alias}.record + 2 + coalesce(list_last(list_filter(sb.shifts, "
        f"lambda s, i: sb.firsts[i] <= {alias}.record)), sb.base, 0)"
    )


def typed_sql(thresholds: Thresholds) -> str:
    """Stage 1: typed values and per-row lists, from the `lines` view."""
    bad_dx = names_where(
        [(f"{c} IN (SELECT code FROM bad_diagnosis_codes)", f"'{c}'") for c in DIAGNOSIS_COLUMNS]
    )

    def npi_ok(col: str) -> str:
        return f"CASE WHEN {col} IS NULL THEN NULL ELSE {col} NOT IN (SELECT npi FROM bad_npis) END"

    return f"""
SELECT l.*,
  {typed_values_sql()},
  list_filter([{", ".join(MODIFIER_COLUMNS)}], lambda m: m IS NOT NULL) AS modifiers,
  {_missing_fields_sql(thresholds)} AS missing_fields,
  {bad_dx} AS bad_diagnoses,
  CASE WHEN admitting_diagnosis IS NOT NULL
    THEN admitting_diagnosis NOT IN (SELECT code FROM bad_diagnosis_codes) END AS admitting_dx_billable,
  {_missing_inpatient_sql(thresholds)} AS missing_inpatient_fields,
  {npi_ok("billing_npi")} AS billing_npi_ok,
  {npi_ok("rendering_npi")} AS rendering_npi_ok,
  {npi_ok("attending_npi")} AS attending_npi_ok,
  billing_npi IN (SELECT npi FROM billing_providers_ok) AS billing_provider_ok,
  rm.roster_cin IS NOT NULL AS member_on_roster,
  rm.roster_gender AS member_gender,
  rm.roster_county AS member_county,
  rm.roster_spans AS member_spans,
  rrm.lines AS member_rejected_roster_rows,
  rrp.lines AS billing_rejected_roster_rows,
  los.original_status AS original_dhcs_status,
  claim_id IN (SELECT claim_id FROM disagree_claims) AS claim_fields_disagree,
  (claim_id, line_number) IN (SELECT (claim_id, line_number) FROM repeated_line_numbers) AS line_number_repeated,
  pos IN (SELECT pos FROM duplicate_positions) AS duplicate_in_month,
  pos IN (SELECT pos FROM ledger_findings WHERE rule_id = 'DUPLICATE_OF_SUBMITTED') AS submitted_in_other_month,
  pos IN (SELECT pos FROM ledger_findings WHERE rule_id = 'ORIGINAL_CLAIM_UNKNOWN') AS original_not_in_ledger,
  regexp_full_match(diagnosis_pointers, '[0-9]{{1,2}}( *, *[0-9]{{1,2}}){{0,3}}')
    AND list_aggregate(list_transform(string_split(diagnosis_pointers, ','),
          lambda p: TRY_CAST(TRIM(p) AS INTEGER) BETWEEN 1 AND 12
               AND [{", ".join(DIAGNOSIS_COLUMNS)}][TRY_CAST(TRIM(p) AS INTEGER)] IS NOT NULL), 'bool_and')
    AS pointers_ok,
  {_units_bound_sql(thresholds)} AS units_bound
FROM lines l
LEFT JOIN roster_members rm ON rm.roster_cin = l.member_cin
LEFT JOIN rejected_roster_members rrm ON rrm.key = l.member_cin
LEFT JOIN rejected_roster_providers rrp ON rrp.key = l.billing_npi
LEFT JOIN ledger_original_status los ON los.line_pos = l.pos
"""


def flags_sql() -> str:
    """Stage 2: what needs the typed values: unparseable dates, enrollment span, ECM/CS pairs."""
    bad_dates = names_where(
        [
            (f"t.{col} IS NOT NULL AND t.{alias} IS NULL", f"'{col}'")
            for col, alias in DATE_COLUMNS.items()
        ]
    )
    return f"""
SELECT t.*,
  {bad_dates} AS bad_dates,
  coalesce(list_bool_or(list_transform(t.member_spans,
      lambda s: t.d_from BETWEEN s.d_start AND s.d_end)), false) AS member_enrolled,
  e.allowed AS ecm_cs_allowed
FROM typed t
LEFT JOIN ecm_cs e ON e.hcpcs = t.procedure_code AND t.d_from BETWEEN e.d_start AND e.d_end
"""


def render_when(rule: Rule, values: dict[str, str]) -> str:
    """Fill the catalog's {placeholders}; only known names are replaced so regex braces survive."""
    return render_text(rule.when or "false", values)


def render_detail(rule: Rule, values: dict[str, str]) -> str:
    """The rule's detail SQL with its {placeholders} filled (as in `when`)."""
    return render_text(rule.detail or "NULL", values)


def render_text(text: str, values: dict[str, str]) -> str:
    """Replace each known {name} of ``text`` by its value."""
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
        "inpatient_types": sql_list(thresholds.inpatient_facility_types.value),
        **code_lists.sql_values(today),
    }


def verdicts_sql(rules: list[Rule], values: dict[str, str]) -> str:
    """Stage 3: for the rows where any rule fires (a few percent), the failed reject rules, the
    warn rules and a details text. Other rows write nothing: they passed every rule."""

    def ids(severity: str) -> str:
        return names_where(
            [(render_when(r, values), f"'{r.id}'") for r in rules if r.severity == severity]
        )

    details = [
        f"CASE WHEN coalesce(({render_when(r, values)}), false) THEN '{r.id}: ' || ({render_detail(r, values)}) END"
        for r in rules
        if r.detail
    ]
    details_sql = f"concat_ws('; ', {', '.join(details)})" if details else "NULL"
    return f"""
SELECT pos, claim_id, own_reject_rule_ids, warn_rule_ids, details FROM (
SELECT pos, claim_id,
  {ids("reject")} AS own_reject_rule_ids,
  {ids("warn")} AS warn_rule_ids,
  NULLIF({details_sql}, '') AS details
FROM flags f
) WHERE len(own_reject_rule_ids) > 0 OR len(warn_rule_ids) > 0
"""


ACCEPTED = (
    "NOT coalesce(l.claim_id IN (SELECT claim_id FROM rejected_claims), false) "
    "AND l.pos NOT IN (SELECT pos FROM rejected_positions)"
)
REJECTED = (
    "l.claim_id IN (SELECT claim_id FROM rejected_claims) "
    "OR l.pos IN (SELECT pos FROM rejected_positions)"
)


def judged_rows_sql(which: str) -> str:
    """The accepted (ACCEPTED) or rejected (REJECTED) lines with typed values, physical line and
    final verdict. Filtering the lines first keeps the joins to the rows being written. A row that
    failed keeps its own rules; the other lines of its claim get the claim rule (claim atomicity).
    """
    return f"""
SELECT l.*,
  {accepted_values_sql()},
  {source_row_sql()} AS source_row,
  coalesce(v.own_reject_rule_ids, {EMPTY_LIST}) AS own_reject_rule_ids,
  coalesce(v.warn_rule_ids, {EMPTY_LIST}) AS warn_rule_ids,
  v.details,
  CASE WHEN len(v.own_reject_rule_ids) > 0 THEN v.own_reject_rule_ids
       WHEN l.claim_id IN (SELECT claim_id FROM rejected_claims) THEN ['{CLAIM_RULE}']
       ELSE {EMPTY_LIST} END AS rule_ids
FROM (SELECT * FROM lines l WHERE {which}) l
LEFT JOIN scratch.verdicts v USING (pos)
LEFT JOIN shift_buckets sb ON sb.file_index = l.file_index AND sb.bucket = l.record // {SHIFT_BUCKET}
"""
