"""The end of `calaim run`: one row per plan-month with its verdict, then the next steps that fit
what happened (look at a failing month and get it re-dropped, review warnings, mark built months
sent, open the scorecards or the UI), with the exact commands and paths.

Why next steps: the first person to run the pipeline should not have to read the guides to learn
what to do with a failing month or a month ready to send; the summary says it, and the guides say
the same in more words. Only counts, rates, rule ids, claim-free paths and commands are printed:
never member data.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from calaim_pipeline.console.outcomes import FAILED, HELD, PASSED, SENT, WARNED, MonthOutcome
from calaim_pipeline.settings import PROJECT_DIR, DataPaths

LABELS = {PASSED: "ok", WARNED: "warning", HELD: "FAILED", FAILED: "ERROR", SENT: "sent"}
# The Dagster UI (1.13) path to one partition's check result, as docs/compliance.md gives it.
UI_CHECK_PATH = (
    "Catalog",
    "encounter_lines",
    "Checks",
    "{check}",
    "Partitions",
    "{month}",
    "{plan}",
)


def ui_check_path(check: str, month: str, plan: str) -> str:
    return " → ".join(s.format(check=check, month=month, plan=plan) for s in UI_CHECK_PATH)


def shown(path: Path) -> str:
    """A path as the person should type it: relative when under the current folder."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def calaim_command() -> str:
    """How to run `calaim` again: the project's .venv/bin/calaim when that is what ran (it is on
    PATH only inside uv and make), else plain `calaim`."""
    script = Path(sys.argv[0]).resolve() if sys.argv and sys.argv[0] else None
    project_script = (PROJECT_DIR / ".venv" / "bin" / "calaim").resolve()
    if script is not None and script == project_script:
        return shown(project_script)
    return "calaim"


def verdict(outcome: MonthOutcome) -> str:
    """'FAILED reject_rate: ...; files held back', 'ok: all checks pass; files built (...)'."""
    joint = " " if outcome.status in (WARNED, HELD) else ": "  # their reason starts with a check
    text = f"{LABELS[outcome.status]}{joint}{outcome.reason}"
    if outcome.status in (PASSED, WARNED, HELD):
        text += f"; files {outcome.files}"
    return text


def print_summary(outcomes: Sequence[MonthOutcome], out: TextIO | None = None) -> None:
    """Per plan: each month's counts and verdict (top rules under a month that is not ok), then
    the plan's totals."""
    out = out or sys.stdout
    header = f"{'plan':<8} {'month':<8} {'read':>10} {'accepted':>10} {'rejected':>9}  verdict"
    pad = " " * (len(header) - len("verdict"))
    print("\nSummary", file=out)
    print(header, file=out)
    print("-" * 100, file=out)
    for plan in sorted({o.plan for o in outcomes}):
        rows = sorted((o for o in outcomes if o.plan == plan), key=lambda o: o.month)
        totals = [0, 0, 0]
        for o in rows:
            m = o.metrics
            if m is None:
                counts = f"{'-':>10} {'-':>10} {'-':>9}"
            else:
                values = (m.rows_read, m.accepted, m.rejected)
                totals = [t + v for t, v in zip(totals, values, strict=True)]
                counts = f"{values[0]:>10,} {values[1]:>10,} {values[2]:>9,}"
            print(f"{plan:<8} {o.month:<8} {counts}  {verdict(o)}", file=out)
            if m is not None and m.profile:  # a plan whose own shape an ingest profile maps
                print(f"{pad}read through ingest profile {m.profile} ({m.profile_hash})", file=out)
            rules = o.top_rules() if o.status in (WARNED, HELD) else []
            if rules:
                top = ", ".join(f"{r['rule_id']}={r['rows']:,}" for r in rules)
                print(f"{pad}top failing rules: {top}", file=out)
        if sum(1 for o in rows if o.metrics is not None) > 1:
            print(
                f"{plan:<8} {'total':<8} {totals[0]:>10,} {totals[1]:>10,} {totals[2]:>9,}",
                file=out,
            )
    print(file=out)


def _months(outcomes: Sequence[MonthOutcome]) -> str:
    by_plan: dict[str, list[str]] = {}
    for o in outcomes:
        by_plan.setdefault(o.plan, []).append(o.month)
    return ", ".join(
        f"{plan} {', '.join(sorted(months))}" for plan, months in sorted(by_plan.items())
    )


def next_steps(outcomes: Sequence[MonthOutcome], paths: DataPaths, index: Path | None) -> list[str]:
    """The steps that fit these outcomes, most urgent first; each names a path or a command."""
    calaim = calaim_command()
    steps = []
    for o in (o for o in outcomes if o.status == HELD):
        check = o.blocking[0].name
        card = paths.scorecards / o.plan / o.month / "scorecard.html"
        steps.append(
            f"{o.plan} {o.month} failed {', '.join(c.name for c in o.blocking)}, so its 837 "
            f"files were held back. See why in its scorecard {shown(card)} or in the UI "
            f"(make ui): {ui_check_path(check, o.month, o.plan)}. The plan must send corrected "
            f"files: put them in {shown(paths.landing / o.plan / o.month)}/ and run "
            f"{calaim} run --month {o.month} --plan {o.plan}"
        )
    for o in (o for o in outcomes if o.status == FAILED):
        steps.append(
            f"{o.plan} {o.month} did not complete: {o.reason}. Fix that, then run "
            f"{calaim} run --month {o.month} --plan {o.plan}"
            + (f" (run {o.run_id} in the UI has the details)" if o.run_id else "")
        )
    warned = [o for o in outcomes if o.status == WARNED]
    if warned:
        cards = ", ".join(
            shown(paths.scorecards / o.plan / o.month / "scorecard.html") for o in warned
        )
        them = "it" if len(warned) == 1 else "them"
        steps.append(
            f"Review the warnings of {_months(warned)} before marking {them} sent: {cards} "
            "(warnings never hold files back)"
        )
    ready = [o for o in outcomes if o.status in (PASSED, WARNED)]
    if ready:
        first = min(ready, key=lambda o: (o.month, o.plan))
        steps.append(
            f"837 files ready for review under {shown(paths.submissions)}/ ({_months(ready)}). "
            "After a month's files are uploaded to DHCS, record it: "
            f'{calaim} mark-sent --plan {first.plan} --month {first.month} --reviewed-by "Your Name"'
        )
    sent = [o for o in outcomes if o.status == SENT]
    if sent:
        steps.append(
            f"{_months(sent)}: marked sent, so final. Corrections go in a later month's extract "
            "as replacement (7) or void (8) claims: docs/data-engineers.md#correct-a-sent-month"
        )
    if index is not None:
        steps.append(f"Every plan's latest scorecard: {shown(index)} (opens offline)")
    steps.append(
        "Runs, checks and assets in the Dagster UI: make ui, then http://127.0.0.1:3000 "
        "(Ctrl-C stops it); guides: docs/compliance.md, docs/data-engineers.md"
    )
    return steps


def print_next_steps(steps: Sequence[str], out: TextIO | None = None) -> None:
    out = out or sys.stdout
    print("Next steps", file=out)
    for step in steps:
        print(f"  - {step}", file=out)


def exit_code(outcomes: Sequence[MonthOutcome], allow_failed_checks: bool) -> int:
    """1 when a month did not complete or could not run, or (unless allowed) a blocking check
    failed: schedulers see a month that needs a person. 0 otherwise."""
    if any(o.status in (FAILED, SENT) for o in outcomes):
        return 1
    if any(o.status == HELD for o in outcomes) and not allow_failed_checks:
        return 1
    return 0
