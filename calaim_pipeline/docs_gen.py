"""Generated reference pages: the rules catalog and the plan-month checks, for compliance staff."""

from __future__ import annotations

from pathlib import Path

from calaim_pipeline.catalog import FAMILIES, load_rules
from calaim_pipeline.catalog.checks import checks_for
from calaim_pipeline.plan_month_checks import PLAN_MONTH_CHECKS
from calaim_pipeline.settings import load_thresholds

STAGE_NOTE = {
    "line": "",
    "ingest": " (decided while reading the file)",
    "claim": " (decided after the line rules)",
    "ledger": " (compared with the submission ledger of the plan's other months)",
    "roster": " (judges a roster row; the row goes to `roster_rejects`)",
}


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def rules_page() -> str:
    rules = load_rules()
    lines = [
        "# Line rules reference",
        "",
        "Generated from `calaim_pipeline/catalog/rules.yaml` by `calaim rules-doc`; do not edit by hand.",
        "A row failing a **reject** rule is quarantined in `encounter_rejects` with the rule id in",
        "`rule_ids`; a **warn** rule keeps the row and lists the id in `warn_rule_ids`. When any line of a",
        "claim is rejected, its other lines are rejected with `CLAIM_HAS_REJECTED_LINE`. Roster rules",
        "judge the rows of `members.csv` and `providers.csv`: a failing row is kept out of `members` /",
        "`providers` and lands in `roster_rejects` with its file, line and rule ids.",
        "",
    ]
    for family in FAMILIES:
        family_rules = [r for r in rules if r.family == family]
        if not family_rules:
            continue
        lines += [
            f"## {family.capitalize()}",
            "",
            "| id | severity | what fails | source |",
            "|---|---|---|---|",
        ]
        for rule in family_rules:
            lines.append(
                f"| `{rule.id}` | {rule.severity} | {_cell(rule.description)}{STAGE_NOTE[rule.stage]} "
                f"| {_cell(rule.source)} |"
            )
        lines.append("")
    thresholds = load_thresholds().checks
    lines += [
        "## Plan-month checks (Dagster asset checks on `encounter_lines`, per partition)",
        "",
        "ERROR checks block the plan-month's submission; WARN checks never block. The checks, their",
        "severities and the thresholds they read are defined in `calaim_pipeline/catalog/checks.yaml`;",
        "the threshold values live in `calaim_pipeline/config/thresholds.yaml`.",
        "",
        "| check | severity | passes when | thresholds |",
        "|---|---|---|---|",
    ]
    for check in PLAN_MONTH_CHECKS:
        limit = check.spec.limit
        keys = ", ".join(f"`{key}`" for key in limit.keys) if limit else "counts agree"
        lines.append(f"| `{check.name}` | {check.severity} | {_cell(check.description)} | {keys} |")
    lines += [
        "",
        "## DHCS-outcome checks (Dagster asset checks on `dhcs_responses`, per partition)",
        "",
        "Judged from DHCS's 999 and 277CA answers (calaim_pipeline/responses/checks.py), after the",
        "month was sent; they never block a build.",
        "",
        "| check | severity | passes when | thresholds |",
        "|---|---|---|---|",
    ]
    for spec in checks_for("dhcs_responses"):
        keys = ", ".join(f"`{key}`" for key in spec.limit.keys) if spec.limit else "-"
        lines.append(f"| `{spec.name}` | {spec.severity} | {_cell(spec.description)} | {keys} |")
    lines += ["", "| threshold | value | source |", "|---|---|---|"]
    for name, sourced in thresholds:
        lines.append(f"| `{name}` | {sourced.value} | {_cell(sourced.source)} |")
    return "\n".join(lines) + "\n"


def write_rules_page(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(rules_page(), encoding="utf-8")
    return path
