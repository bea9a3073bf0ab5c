"""The `calaim` command: generate sample data, run plan-months through Dagster, mark a month sent,
query the warehouse, write the rules page."""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from calaim_pipeline import filemodes
from calaim_pipeline.cli_config import add_config_parser, cmd_check_config  # noqa: F401
from calaim_pipeline.cli_errors import UsageError
from calaim_pipeline.cli_responses import (  # noqa: F401 (`calaim responses ...`)
    add_parsers,
    cmd_responses_ingest,
    cmd_responses_simulate,
    cmd_responses_worklist,
)
from calaim_pipeline.cli_warehouse import (  # noqa: F401 (`calaim warehouse | sql`)
    add_warehouse_parsers,
    cmd_sql,
    cmd_warehouse,
)
from calaim_pipeline.month_record import MonthRecordError
from calaim_pipeline.settings import (
    PROJECT_DIR,
    ConfigError,
    DataPaths,
    data_paths,
    load_plans,
    load_thresholds,
)

if TYPE_CHECKING:  # imported lazily at run time: `calaim --help` should not load Dagster
    import dagster as dg

    from calaim_pipeline.console.outcomes import MonthOutcome


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
    from calaim_pipeline.storage.session import fetch, landed_plan_months, outputs_scope
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
        # Sent months are final: ALL means "everything that may still change". (A bucket's ledger
        # is read from a local copy; storage/session.py.)
        for plan, month in work:
            fetch(paths, outputs_scope(plan, month))
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
    print(f"Running {len(work)} plan-month(s); data root {paths.root}; Dagster instance {home}")
    with dg.DagsterInstance.get() as instance:
        if args.simulate_dhcs:  # month by month, each answered before the next is judged
            from calaim_pipeline.cli_responses import run_with_simulated_dhcs

            outcomes = run_with_simulated_dhcs(_run_plan_months, job, instance, work, paths, args)
        else:
            outcomes = _run_plan_months(job, instance, work, paths, verbose=args.verbose)
    return _report(outcomes, paths, allow_failed_checks=args.allow_failed_checks)


def _run_plan_months(
    job: dg.JobDefinition,
    instance: dg.DagsterInstance,
    work: list[tuple[str, str]],
    paths: DataPaths,
    *,
    verbose: bool,
) -> list[MonthOutcome]:
    """Each plan-month through the job, its stages shown as they run, then its one-line verdict.
    A named month marked sent is told, not run: it is final, and a refused run would only add a
    red run to the UI."""
    import uuid

    from calaim_pipeline.console.outcomes import outcome_of, sent_outcome
    from calaim_pipeline.console.progress import StageReporter, console_run_config
    from calaim_pipeline.console.summary import LABELS
    from calaim_pipeline.defs.partitions import plan_month_key
    from calaim_pipeline.lake import read_metrics
    from calaim_pipeline.stale_runs import owner_tags
    from calaim_pipeline.storage.session import fetch, outputs_scope
    from calaim_pipeline.submission import ledger

    outcomes = []
    for i, (plan, month) in enumerate(work, 1):
        print(f"[{i}/{len(work)}] {plan} {month}:", end="", flush=True)
        fetch(paths, outputs_scope(plan, month))  # a bucket's ledger, copied here to read
        status = ledger.sent_status(paths.lake, plan, month)
        if status is not None:
            outcome = sent_outcome(plan, month, status.sent_at, status.sent_by)
            outcome.metrics = read_metrics(paths.lake, plan, month)  # its counts, as judged
            outcomes.append(outcome)
            print(f" {outcome.reason}")
            continue
        run_id = str(uuid.uuid4())  # known before the run starts, to listen to its events
        reporter = StageReporter()
        instance.add_event_listener(run_id, reporter)
        started = time.perf_counter()
        result = job.execute_in_process(
            partition_key=plan_month_key(plan, month),
            instance=instance,
            raise_on_error=False,
            run_config=console_run_config(verbose),
            run_id=run_id,
            tags=owner_tags(),  # lets a later run fail this one if the process is killed
        )
        fetch(paths, outputs_scope(plan, month))  # a bucket's results, copied here for review
        outcome = outcome_of(result, paths, plan, month, time.perf_counter() - started)
        outcomes.append(outcome)
        print(f" -> {LABELS[outcome.status]} in {outcome.seconds:.1f}s")
    return outcomes


def _report(outcomes: list[MonthOutcome], paths: DataPaths, *, allow_failed_checks: bool) -> int:
    """The summary, the scorecard index, the next steps; the exit code for schedulers."""
    from calaim_pipeline.console import summary
    from calaim_pipeline.scorecard import build_index

    summary.print_summary(outcomes)
    index = build_index(paths)
    summary.print_next_steps(summary.next_steps(outcomes, paths, index))
    return summary.exit_code(outcomes, allow_failed_checks)


def cmd_mark_sent(args: argparse.Namespace) -> int:
    """Run the mark_sent_job for one plan-month on the persistent instance."""
    import dagster as dg

    from calaim_pipeline.console.outcomes import failure_message
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
        reason = failure_message(result, args.plan, args.month).removeprefix("not marked sent: ")
        print(f"{args.plan} {args.month} not marked sent: {reason}", file=sys.stderr)
        return 1
    print(f"{args.plan} {args.month} marked sent (reviewed by {args.reviewed_by}); it is now final")
    return 0


def cmd_generate(args: argparse.Namespace) -> int:
    """Seeded sample data; the bundled sample (no --lines) has the demo incidents (a month that
    warns, one that fails a blocking check), so the guides' walk-throughs have a real case."""
    from calaim_pipeline.sample import generate_sample
    from calaim_pipeline.sample.incidents import DEMO_INCIDENTS

    root = Path(args.out).resolve() if args.out else data_paths().root
    plan_lines = None
    if args.lines is not None:
        if args.lines < 1:
            raise UsageError(f"--lines {args.lines}: use a positive number of lines per plan-month")
        codes = load_plans().codes
        plan_lines = dict.fromkeys(_selected(args.plans or "ALL", codes, "plans"), args.lines)
    elif args.plans:
        raise UsageError("--plans needs --lines")
    kwargs = {
        "seed": args.seed,
        "defect_rate": args.defect_rate,
        "file_format": args.format,
        # The demo's incidents belong to the bundled sample; sized data (--lines, for benchmarks
        # and load tests) has none unless asked for.
        "incidents": DEMO_INCIDENTS
        if (args.incidents or ("none" if args.lines else "demo")) == "demo"
        else {},
    }
    if args.months:
        kwargs["months"] = tuple(_months(args.months, allow_all=False, open_only=False) or ())
    if plan_lines:
        kwargs["plan_lines"] = plan_lines
    started = time.perf_counter()
    try:
        summary = generate_sample(root, **kwargs)
    except ValueError as exc:  # the generator's own argument checks (rates, months too early)
        raise UsageError(str(exc)) from None
    print(f"sample data written under {root / 'landing'} in {time.perf_counter() - started:.1f}s")
    for key, value in summary.items():
        story = f" (incident: {value['incident']})" if value.get("incident") else ""
        shape = f", in ingest profile {value['profile']}'s shape" if value.get("profile") else ""
        print(f"  {key}: {value['lines']:,} lines{shape}{story}")
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
    run.add_argument(
        "--verbose", action="store_true", help="also show Dagster's own logs and stack traces"
    )
    run.add_argument(
        "--allow-failed-checks",
        action="store_true",
        help="exit 0 when the only problem is a failed blocking check (its files are held back "
        "either way; `make run` uses this for the sample's failing month); errors still exit 1",
    )
    run.add_argument(
        "--simulate-dhcs",
        action="store_true",
        help="sample data only: mark each built month sent (simulated review) and ingest the DHCS "
        "simulator's 999/277CA before the next month runs",
    )
    run.set_defaults(func=cmd_run)

    gen = sub.add_parser("generate", help="write seeded sample data (landing files + truth)")
    gen.add_argument("--out", help="data root to write under (default: CALAIM_DATA_DIR or ./data)")
    gen.add_argument("--seed", type=int, default=42)
    gen.add_argument("--lines", type=int, help="lines per plan-month (default: the sample sizes)")
    gen.add_argument("--plans", help="comma list of plan codes (with --lines)")
    gen.add_argument("--months", help="comma list of YYYY-MM")
    gen.add_argument("--defect-rate", type=float, default=0.02)
    gen.add_argument("--format", choices=["csv", "csv.gz", "parquet"], default="csv")
    gen.add_argument(
        "--incidents",
        choices=["demo", "none"],
        help="the demo incidents (CHG 2026-08 warns, CHG 2026-09 fails reject_rate): default "
        "demo, or none with --lines",
    )
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

    add_parsers(sub)  # calaim responses simulate | ingest | worklist (cli_responses.py)
    add_warehouse_parsers(sub)  # calaim warehouse | sql (cli_warehouse.py)
    add_config_parser(sub)  # calaim check-config [--production] (cli_config.py)

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
    except MonthRecordError as exc:  # a month record edited by hand or written by an old version
        print(f"calaim {args.command}: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
