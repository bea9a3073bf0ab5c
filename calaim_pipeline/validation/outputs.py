"""What a judged plan-month writes: accepted lines, rejects with reasons, and rule results."""

from __future__ import annotations

import pyarrow as pa

from calaim_pipeline.catalog import load_rules
from calaim_pipeline.ingest.contract import DATE_COLUMNS, ENCOUNTER_COLUMNS
from calaim_pipeline.month_record import MonthRecord, RosterCounts
from calaim_pipeline.sqltext import sql_str
from calaim_pipeline.validation import sql

UNPARSEABLE_RULE = "ROW_UNPARSEABLE"


def _roster_checked_and_failed(
    rule_id: str, roster: str | None, rosters: dict[str, RosterCounts]
) -> tuple[int, int]:
    """Roster rules count roster rows: every row read for the reader's rule, else the parsed rows
    of the rule's roster."""
    judged = [rosters[roster]] if roster else list(rosters.values())
    checked = sum(r.rows_read - (r.unparseable if roster else 0) for r in judged)
    failed = sum(r.rule_counts.get(rule_id, 0) for r in judged)
    return checked, failed


def rule_results_table(plan: str, month: str, record: MonthRecord) -> pa.Table:
    """plan x month x rule counts for every catalog rule, with the rules version that judged them.
    Ledger rules show 0 checked while the plan's ledger holds no other month: there was nothing
    to compare against. Roster rules count roster rows (members.csv, providers.csv), every other
    rule encounter lines."""
    parsed = record.rows_read - record.unparseable
    ledger_in_use = record.ledger.earlier_months_known or record.ledger.live_line_keys
    rows = []
    for rule in load_rules():
        failed = record.rule_counts.get(rule.id, 0)
        if rule.stage == "roster":
            checked, failed = _roster_checked_and_failed(rule.id, rule.roster, record.rosters)
        elif rule.stage == "ledger" and not ledger_in_use:
            checked = 0
        elif rule.stage == "ingest":
            checked = record.rows_read
        else:
            checked = parsed
        rows.append(
            {
                "plan_code": plan,
                "extract_month": month,
                "rule_id": rule.id,
                "family": rule.family,
                "severity": rule.severity,
                "rows_checked": checked,
                "rows_failed": failed,
                "fail_rate": failed / checked if checked else None,
                "rules_version": record.rules_version,
            }
        )
    return pa.Table.from_pylist(rows)


def accepted_sql(plan: str, month: str) -> str:
    typed = []
    for name in ENCOUNTER_COLUMNS:
        if name in DATE_COLUMNS:
            typed.append(f"{DATE_COLUMNS[name]} AS {name}")
        elif name == "units":
            typed.append("n_units AS units")
        elif name == "billed_amount":
            typed.append("n_billed AS billed_amount")
        elif name == "paid_amount":
            typed.append("n_paid AS paid_amount")
        elif name == "line_number":
            typed.append("line_no AS line_number")
        elif name == "plan_code":
            continue
        else:
            typed.append(name)
    # Service-to defaults to service-from (extract-contract.md).
    typed = [
        "coalesce(d_to, d_from) AS service_to_date" if t == "d_to AS service_to_date" else t
        for t in typed
    ]
    return (
        f"SELECT {sql_str(plan)} AS plan_code, {sql_str(month)} AS extract_month, "
        f"{', '.join(typed)}, source_file, source_row, "
        "plan_code || ':' || claim_id || ':' || frequency_code || ':' || line_no AS line_key, "
        "warn_rule_ids "
        f"FROM ({sql.judged_rows_sql(sql.ACCEPTED)})"
    )


def rejects_sql(plan: str, month: str) -> str:
    """Rejected rows as their raw text values (input plan_code as input_plan_code), with reasons."""
    descriptions = (
        "MAP {"
        + ", ".join(f"{sql_str(r.id)}: {sql_str(r.description)}" for r in load_rules())
        + "}"
    )
    head = f"{sql_str(plan)} AS plan_code, {sql_str(month)} AS extract_month"

    def alias(column: str) -> str:
        return f"input_{column}" if column == "plan_code" else column

    parsed_columns = ", ".join(f"{c} AS {alias(c)}" for c in ENCOUNTER_COLUMNS)
    unparseable_columns = ", ".join(
        "claim_id_guess AS claim_id" if c == "claim_id" else f"CAST(NULL AS VARCHAR) AS {alias(c)}"
        for c in ENCOUNTER_COLUMNS
    )
    parsed = (
        f"SELECT {head}, {parsed_columns}, source_file, source_row, CAST(NULL AS VARCHAR) AS raw_text, "
        f"rule_ids, list_transform(rule_ids, lambda r: r || ': ' || {descriptions}[r]) AS messages, "
        f"details, warn_rule_ids FROM ({sql.judged_rows_sql(sql.REJECTED)})"
    )
    unparseable = (
        f"SELECT {head}, {unparseable_columns}, source_file, source_row, raw_text, "
        f"['{UNPARSEABLE_RULE}'] AS rule_ids, "
        f"['{UNPARSEABLE_RULE}: ' || {descriptions}['{UNPARSEABLE_RULE}']] AS messages, "
        "parse_error AS details, CAST([] AS VARCHAR[]) AS warn_rule_ids FROM unparseable"
    )
    return f"{parsed}\nUNION ALL BY NAME\n{unparseable}"
