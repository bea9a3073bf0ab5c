"""The `calaim` command: generate sample data, run plan-months through Dagster, write the rules page."""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
from pathlib import Path

from calaim_pipeline import filemodes
from calaim_pipeline.settings import (
    PROJECT_DIR,
    ConfigError,
    data_paths,
    load_plans,
    load_thresholds,
)


def dagster_home() -> Path:
    """DAGSTER_HOME, else <data root>/dagster_home, holding a copy of the project's dagster.yaml
    (refreshed when the project's copy is newer, as `make ui` does)."""
    home = Path(os.environ.get("DAGSTER_HOME") or data_paths().root / "dagster_home").resolve()
    filemodes.ensure_dir(home)
    project_yaml, instance_yaml = PROJECT_DIR / "dagster.yaml", home / "dagster.yaml"
    if project_yaml.is_file() and (
        not instance_yaml.exists() or project_yaml.stat().st_mtime > instance_yaml.stat().st_mtime
    ):
        shutil.copyfile(project_yaml, instance_yaml)
        filemodes.secure_file(instance_yaml)
    os.environ["DAGSTER_HOME"] = str(home)
    return home


def recover_before_run() -> None:
    """Clean what a killed earlier run left (recovery.py), bring files an earlier version wrote to
    the file-mode policy, and fail the Dagster runs of `calaim` processes that died
    (stale_runs.py). Prints counts and paths under the data root, never file contents."""
    import dagster as dg

    from calaim_pipeline.recovery import recover, tighten_modes
    from calaim_pipeline.stale_runs import fail_dead_runs

    paths = data_paths()
    recovered = recover(paths)
    if recovered.anything:
        print(f"cleaned up after an interrupted run: {recovered.summary()}")
    if recovered.busy_plans:
        print(f"left for the run holding them: ledger of {', '.join(recovered.busy_plans)}")
    tightened = tighten_modes(paths)
    if tightened:
        print(f"file modes: {tightened} file(s) and folder(s) made {_mode_words()}")
    dagster_home()
    with dg.DagsterInstance.get() as instance:
        failed = fail_dead_runs(instance)
    if failed:
        print(f"marked {len(failed)} run(s) of killed calaim processes failed: {', '.join(failed)}")


def _mode_words() -> str:
    shared = filemodes.policy().gid is not None
    return f"readable by group {os.environ[filemodes.SHARE_GROUP_ENV]}" if shared else "owner-only"


class UsageError(ValueError):
    """A bad command-line value: printed as one line, exit code 2, no traceback."""


def _selected(value: str, available: list[str], label: str) -> list[str]:
    if value.strip().upper() == "ALL":
        return available
    chosen = [v.strip() for v in value.split(",") if v.strip()]
    unknown = [v for v in chosen if v not in available]
    if unknown or not chosen:
        raise UsageError(
            f"--{label} {value!r}: not a configured plan code; use one of "
            f"{', '.join(available) or 'none'}, a comma list, or ALL"
        )
    return chosen


def _months(value: str, *, allow_all: bool = True, open_only: bool = True) -> list[str] | None:
    """The months of a --month(s) argument (None for ALL). A month is YYYY-MM; with
    ``open_only`` it must also be an extract month the pipeline can run: from the configured
    first month up to last month (the current month is not over, so it has no extract yet)."""
    from datetime import date

    from calaim_pipeline.months import previous_month
    from calaim_pipeline.settings import MONTH_PATTERN

    if allow_all and value.strip().upper() == "ALL":
        return None
    chosen = [v.strip() for v in value.split(",") if v.strip()]
    form = "YYYY-MM (e.g. 2026-09)" + (", a comma list, or ALL" if allow_all else "")
    for month in chosen or [value]:
        if not MONTH_PATTERN.fullmatch(month):
            raise UsageError(f"month {month!r} is not a month: use {form}")
    if open_only:
        first, last = str(load_thresholds().first_month.value), previous_month(date.today())
        for month in chosen:
            if not first <= month <= last:
                raise UsageError(
                    f"month {month!r} is not an extract month that can run: use a month from "
                    f"{first} (thresholds.yaml first_month) to {last} (last month)"
                )
    return sorted(set(chosen))


def cmd_run(args: argparse.Namespace) -> int:
    """Run the real Dagster job in-process, one plan-month partition at a time, oldest month first."""
    import dagster as dg

    from calaim_pipeline.definitions import defs
    from calaim_pipeline.defs.partitions import plan_month_key
    from calaim_pipeline.ingest.landing import landed_plan_months
    from calaim_pipeline.lake import read_metrics
    from calaim_pipeline.plan_month_checks import evaluate_all, top_rules
    from calaim_pipeline.stale_runs import owner_tags
    from calaim_pipeline.submission import ledger

    paths = data_paths()
    plans = load_plans().codes
    chosen_plans = _selected(args.plan, plans, "plan")
    chosen_months = _months(args.month)
    recover_before_run()  # after the arguments: a bad value changes nothing
    landed, refused = landed_plan_months(paths, plans)
    for message in refused:
        print(f"refused: {message}", file=sys.stderr)
    landed_set = set(landed)
    if chosen_months is None:
        months = sorted({m for p, m in landed if p in chosen_plans})
        work = [(p, m) for m in months for p in chosen_plans if (p, m) in landed_set]
        # Sent months are final: ALL means "everything that may still change".
        sent = [(p, m) for p, m in work if ledger.sent_status(paths.lake, p, m)]
        for plan, month in sent:
            print(f"skipped: {plan} {month} was marked sent (final)")
        work = [w for w in work if w not in sent]
    else:
        # Named months run even without files, so a missing drop fails loudly with its path.
        work = [(p, m) for m in chosen_months for p in chosen_plans]
    if not work:
        print(
            f"nothing to run: no landed files under {paths.landing} for that selection",
            file=sys.stderr,
        )
        return 1

    home = dagster_home()
    job = defs().resolve_job_def("plan_month_job")
    quiet = {
        "loggers": {"console": {"config": {"log_level": "WARNING" if not args.verbose else "INFO"}}}
    }
    print(f"Running {len(work)} plan-month(s); data root {paths.root}; Dagster instance {home}")
    summary = []
    failures = 0
    with dg.DagsterInstance.get() as instance:
        for i, (plan, month) in enumerate(work, 1):
            print(f"[{i}/{len(work)}] {plan} {month} ...", end=" ", flush=True)
            started = time.perf_counter()
            result = job.execute_in_process(
                partition_key=plan_month_key(plan, month),
                instance=instance,
                raise_on_error=False,
                run_config=quiet,
                tags=owner_tags(),  # lets a later run fail this one if the process is killed
            )
            elapsed = time.perf_counter() - started
            metrics = (
                read_metrics(paths.lake, plan, month)
                if result.success or _materialized(result)
                else None
            )
            if metrics is None:
                failures += 1
                print(f"FAILED in {elapsed:.1f}s: {_failure_message(result)}")
                summary.append((plan, month, None, [], f"run failed (run id {result.run_id})"))
                continue
            outcomes = evaluate_all(metrics, load_thresholds())
            failing = [o for o in outcomes if not o.passed]
            blocking = [o.name for o in failing if o.severity == "ERROR"]
            if blocking:
                failures += 1
            status = (
                "all checks pass"
                if not failing
                else ", ".join(
                    f"{o.name} {'FAIL' if o.severity == 'ERROR' else 'warn'}" for o in failing
                )
            )
            if not blocking and not result.success:
                failures += 1
                status += f"; FAILED: {_failure_message(result)}"
            print(f"done in {elapsed:.1f}s ({status})")
            status += "\n" + _submission_status(paths, plan, month, blocking)
            summary.append((plan, month, metrics, top_rules(metrics, limit=3), status))
    _print_summary(summary)
    from calaim_pipeline.scorecard import build_index

    index = build_index(paths)
    if index is not None:
        print(f"Scorecards: {index} (open in a browser; works offline)")
    return 1 if failures else 0


def _submission_status(paths, plan: str, month: str, blocking: list[str]) -> str:
    import json

    if blocking:
        return f"submission: not built, held by failing ERROR check(s) {', '.join(blocking)}"
    manifest = paths.submissions / plan / month / "manifest.json"
    if not manifest.is_file():
        return "submission: not built"
    files = json.loads(manifest.read_text(encoding="utf-8"))["files"]
    parts = [f"{f['transaction']} {f['claims']:,} claims" for f in files]
    return f"submission: built ({'; '.join(parts) or 'no accepted lines'}) in {manifest.parent}"


def cmd_mark_sent(args: argparse.Namespace) -> int:
    """Run the mark_sent_job for one plan-month on the persistent instance."""
    import dagster as dg

    from calaim_pipeline.definitions import defs
    from calaim_pipeline.defs.partitions import plan_month_key
    from calaim_pipeline.stale_runs import owner_tags

    _selected(args.plan, load_plans().codes, "plan")
    _months(args.month, allow_all=False)
    dagster_home()
    job = defs().resolve_job_def("mark_sent_job")
    config = {
        "ops": {"mark_plan_month_sent": {"config": {"reviewed_by": args.reviewed_by}}},
        "loggers": {"console": {"config": {"log_level": "CRITICAL"}}},  # we print the outcome
    }
    with dg.DagsterInstance.get() as instance:
        result = job.execute_in_process(
            partition_key=plan_month_key(args.plan, args.month),
            instance=instance,
            raise_on_error=False,
            run_config=config,
            tags=owner_tags(),
        )
    if not result.success:
        print(f"not marked sent: {_failure_message(result)}", file=sys.stderr)
        return 1
    print(f"{args.plan} {args.month} marked sent (reviewed by {args.reviewed_by}); it is now final")
    return 0


def _materialized(result) -> bool:
    return any(e.event_type_value == "ASSET_MATERIALIZATION" for e in result.all_events)


def _failure_message(result) -> str:
    for event in result.all_events:
        if event.is_step_failure and event.step_failure_data and event.step_failure_data.error:
            message = event.step_failure_data.error.message.strip().splitlines()[-1]
            return message.removeprefix("dagster._core.definitions.events.Failure: ")
    return "see the Dagster run log"


def _print_summary(summary: list) -> None:
    """Per plan: each month's counts, top rules and check status, then the plan's totals."""
    print("\nSummary")
    header = f"{'plan':<8} {'month':<8} {'read':>10} {'accepted':>10} {'rejected':>9}  top failing rules / checks"
    print(header)
    print("-" * len(header))
    for plan in sorted({row[0] for row in summary}):
        rows = sorted((r for r in summary if r[0] == plan), key=lambda r: r[1])
        totals = [0, 0, 0]
        for _, month, metrics, rules, status in rows:
            if metrics is None:
                print(f"{plan:<8} {month:<8} {'-':>10} {'-':>10} {'-':>9}  {status}")
                continue
            totals = [
                t + metrics[k]
                for t, k in zip(totals, ("rows_read", "accepted", "rejected"), strict=True)
            ]
            top = ", ".join(f"{r['rule_id']}={r['rows']}" for r in rules) or "none"
            print(
                f"{plan:<8} {month:<8} {metrics['rows_read']:>10,} {metrics['accepted']:>10,} "
                f"{metrics['rejected']:>9,}  {top}"
            )
            for n, text in enumerate(status.split("\n")):
                label = "checks: " if n == 0 else ""
                print(f"{'':<8} {'':<8} {'':>10} {'':>10} {'':>9}  {label}{text}")
        if len(rows) > 1:
            print(f"{plan:<8} {'total':<8} {totals[0]:>10,} {totals[1]:>10,} {totals[2]:>9,}")
        print()


def cmd_generate(args: argparse.Namespace) -> int:
    from calaim_pipeline.sample import generate_sample

    root = Path(args.out).resolve() if args.out else data_paths().root
    plan_lines = None
    if args.lines:
        plan_lines = {
            plan: args.lines
            for plan in (args.plans.split(",") if args.plans else load_plans().codes)
        }
    elif args.plans:
        raise UsageError("--plans needs --lines")
    kwargs = {"seed": args.seed, "defect_rate": args.defect_rate, "file_format": args.format}
    if args.months:
        kwargs["months"] = tuple(_months(args.months, allow_all=False, open_only=False) or ())
    if plan_lines:
        kwargs["plan_lines"] = plan_lines
    started = time.perf_counter()
    summary = generate_sample(root, **kwargs)
    print(f"sample data written under {root / 'landing'} in {time.perf_counter() - started:.1f}s")
    if isinstance(summary, dict):
        for key, value in summary.items():
            if isinstance(value, dict) and "lines" in value:
                print(f"  {key}: {value['lines']:,} lines")
    return 0


def cmd_rules_doc(args: argparse.Namespace) -> int:
    from calaim_pipeline.docs_gen import write_rules_page

    path = write_rules_page(Path(args.out))
    print(f"wrote {path}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="calaim", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run plan-months through the Dagster job in-process")
    run.add_argument("--month", default="ALL", help="YYYY-MM, comma list, or ALL landed months")
    run.add_argument("--plan", default="ALL", help="plan code, comma list, or ALL")
    run.add_argument("--verbose", action="store_true", help="show Dagster's info logs")
    run.set_defaults(func=cmd_run)

    gen = sub.add_parser("generate", help="write seeded sample data (landing files + truth)")
    gen.add_argument("--out", help="data root to write under (default: CALAIM_DATA_DIR or ./data)")
    gen.add_argument("--seed", type=int, default=42)
    gen.add_argument("--lines", type=int, help="lines per plan-month (default: the sample sizes)")
    gen.add_argument("--plans", help="comma list of plan codes (with --lines)")
    gen.add_argument("--months", help="comma list of YYYY-MM")
    gen.add_argument("--defect-rate", type=float, default=0.02)
    gen.add_argument("--format", choices=["csv", "csv.gz", "parquet"], default="csv")
    gen.set_defaults(func=cmd_generate)

    sent = sub.add_parser(
        "mark-sent", help="record that a reviewed plan-month's 837 files were sent to DHCS"
    )
    sent.add_argument("--plan", required=True)
    sent.add_argument("--month", required=True, help="YYYY-MM")
    sent.add_argument("--reviewed-by", required=True, help="who reviewed the files")
    sent.set_defaults(func=cmd_mark_sent)

    doc = sub.add_parser("rules-doc", help="write the rules reference page from the catalog")
    doc.add_argument("--out", default=str(PROJECT_DIR / "docs" / "rules.md"))
    doc.set_defaults(func=cmd_rules_doc)

    args = parser.parse_args(argv)
    try:
        filemodes.apply_umask()  # everything this command creates: owner-only or the share group
        return args.func(args)
    except UsageError as exc:
        print(f"calaim {args.command}: {exc}", file=sys.stderr)
        return 2
    except ConfigError as exc:  # includes a bad CALAIM_SHARE_GROUP
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
