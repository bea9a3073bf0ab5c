"""`calaim responses ...`: simulate DHCS's answers to a built month, ingest the 999 / 277CA files
waiting in responses/<PLAN>/, and write a plan-month's corrections worklist as CSV."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from calaim_pipeline.storage.session import plan_month_scope, step_paths


def cmd_responses_simulate(args: argparse.Namespace) -> int:
    from calaim_pipeline.cli import UsageError, _months, _selected
    from calaim_pipeline.responses.simulator import simulate_month
    from calaim_pipeline.settings import data_paths, load_plans

    plan = _selected(args.plan, load_plans().codes, "plan")
    months = _months(args.month, allow_all=False, open_only=False) or []
    if len(plan) != 1 or len(months) != 1:
        raise UsageError("give one --plan and one --month")
    # With the data root in a bucket the answers are written there (storage/session.py).
    with step_paths(data_paths(), plan_month_scope(plan[0], months[0])) as paths:
        try:
            made = simulate_month(
                paths, plan[0], months[0], seed=args.seed, reject_share=args.reject_share
            )
        except ValueError as exc:
            raise UsageError(str(exc)) from None
    for r in made:
        answers = f"{r.ack_999.name}" + (f", {r.ca_277.name}" if r.ca_277 else "")
        print(
            f"SIMULATED DHCS answers to {r.source}: {answers} ({r.claims} claims, "
            f"{r.rejected} rejected); truth in {r.truth.parent}"
        )
    print(f"waiting in responses/{plan[0]}/: run `calaim responses ingest`")
    return 0


def cmd_responses_ingest(args: argparse.Namespace) -> int:
    from calaim_pipeline import warehouse
    from calaim_pipeline.cli import _selected
    from calaim_pipeline.responses import ingest
    from calaim_pipeline.settings import data_paths, load_plans

    registry = load_plans()
    paths = data_paths()
    refused = 0
    total = 0
    for plan in _selected(args.plan, registry.codes, "plan"):
        # Plan by plan under the plan's lock when the data root is in a bucket.
        with step_paths(paths, plan_month_scope(plan, None)) as plan_paths:
            outcomes = ingest.ingest_plan(plan_paths, registry, plan)
        for outcome in outcomes:
            total += 1
            if outcome.outcome == ingest.REFUSED:
                refused += 1
                print(f"kept aside: {outcome.message}", file=sys.stderr)
            else:
                print(outcome.message)
    if total:
        warehouse.ensure_views(paths)
    if not total:
        print(f"no response files waiting under {paths.responses}")
    elif refused:
        print(
            f"{refused} file(s) kept aside in responses/<PLAN>/{ingest.REJECTED}/ with a "
            ".reason.txt each; the others were ingested",
            file=sys.stderr,
        )
    return 1 if refused else 0


def cmd_responses_worklist(args: argparse.Namespace) -> int:
    from calaim_pipeline.cli import UsageError, _months, _selected
    from calaim_pipeline.responses.worklist import write_worklist
    from calaim_pipeline.settings import data_paths, load_plans

    plan = _selected(args.plan, load_plans().codes, "plan")
    months = _months(args.month, allow_all=False, open_only=False) or []
    if len(plan) != 1 or len(months) != 1:
        raise UsageError("give one --plan and one --month")
    paths = data_paths()
    out = Path(args.out) if args.out else worklist_path(paths.root, plan[0], months[0])
    with step_paths(paths, plan_month_scope(plan[0], months[0])) as month_paths:
        rows = write_worklist(month_paths.lake, plan[0], months[0], out)
    print(f"{plan[0]} {months[0]}: {rows} rejected claim(s) to correct, written to {out}")
    return 0


def worklist_path(root: Path, plan: str, month: str) -> Path:
    return root / "worklists" / plan / month / "corrections_worklist.csv"


def _via_cli(name: str):
    """The command as `calaim_pipeline.cli` exports it, looked up when it runs (so the CLI's
    tests can replace every `cli.cmd_*` with a recorder, these included)."""

    def run(args: argparse.Namespace) -> int:
        from calaim_pipeline import cli

        return getattr(cli, name)(args)

    return run


def add_parsers(sub: argparse._SubParsersAction) -> None:
    responses = sub.add_parser("responses", help="DHCS 999 / 277CA responses")
    verbs = responses.add_subparsers(dest="verb", required=True)
    sim = verbs.add_parser(
        "simulate", help="write SIMULATED DHCS 999 + 277CA answers to a built month's 837 files"
    )
    sim.add_argument("--plan", required=True)
    sim.add_argument("--month", required=True, help="YYYY-MM")
    sim.add_argument("--seed", type=int, default=7)
    sim.add_argument("--reject-share", type=float, default=0.05, help="share of claims rejected")
    sim.set_defaults(func=_via_cli("cmd_responses_simulate"))
    ing = verbs.add_parser("ingest", help="ingest the response files waiting in responses/<PLAN>/")
    ing.add_argument("--plan", default="ALL", help="plan code, comma list, or ALL")
    ing.set_defaults(func=_via_cli("cmd_responses_ingest"))
    work = verbs.add_parser("worklist", help="write a plan-month's corrections worklist (CSV)")
    work.add_argument("--plan", required=True)
    work.add_argument("--month", required=True, help="YYYY-MM")
    work.add_argument("--out", help="CSV path (default <data>/worklists/<PLAN>/<MONTH>/...)")
    work.set_defaults(func=_via_cli("cmd_responses_worklist"))


def run_with_simulated_dhcs(run_months, job, instance, work, paths, args) -> list:
    """`calaim run --simulate-dhcs`: the whole monthly cycle on sample data. Months in order:
    each month's plan-months run; each one whose files were built is marked sent (simulated
    review), answered by the DHCS simulator and ingested through the dhcs_responses job (so its
    DHCS checks show in the UI), before the next month is judged against those answers."""
    from calaim_pipeline.console.outcomes import PASSED, WARNED
    from calaim_pipeline.defs.partitions import plan_month_key
    from calaim_pipeline.responses.cycle import send_and_answer
    from calaim_pipeline.stale_runs import owner_tags

    dhcs_job = job_def("dhcs_responses_job")
    quiet = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}
    outcomes = []
    for month in sorted({m for _, m in work}):
        done = run_months(
            job, instance, [w for w in work if w[1] == month], paths, verbose=args.verbose
        )
        outcomes += done
        for outcome in (o for o in done if o.status in (PASSED, WARNED)):
            send_and_answer(paths, outcome.plan, outcome.month)
            result = dhcs_job.execute_in_process(
                partition_key=plan_month_key(outcome.plan, outcome.month),
                instance=instance,
                raise_on_error=False,
                run_config=quiet,
                tags=owner_tags(),
            )
            checks = {
                e.check_name: e for e in result.get_asset_check_evaluations()
            }  # the DHCS-outcome checks of the month
            failing = [name for name, e in sorted(checks.items()) if not e.passed]
            rate = checks.get("dhcs_acceptance_rate")
            said = rate.description if rate is not None else "no 277CA"
            print(
                f"  DHCS (simulated): {outcome.plan} {outcome.month} marked sent (simulated "
                f"review), answered and ingested: {said}"
                + (f"; failing: {', '.join(failing)}" if failing else "")
            )
    print(
        "  DHCS answers are SIMULATED (sample data). Corrections worklist of a month: "
        "calaim responses worklist --plan <PLAN> --month <YYYY-MM>"
    )
    return outcomes


def job_def(name: str):
    from calaim_pipeline.definitions import defs

    return defs().resolve_job_def(name)
