"""`calaim check-config`: load and validate the configuration in effect; with ``--production``
also refuse sample placeholder identifiers in the plans registry (config_check.py)."""

from __future__ import annotations

import argparse
import sys

from calaim_pipeline.config_check import production_problems
from calaim_pipeline.settings import config_file, load_plans, load_thresholds


def cmd_check_config(args: argparse.Namespace) -> int:
    """0 when the configuration loads (and, with --production, holds no sample identifier)."""
    registry = load_plans()  # a ConfigError names the file and key (cli.main prints it)
    load_thresholds()
    plans_file = config_file("plans.yaml")
    if args.production:
        problems = production_problems(registry)
        if problems:
            print(f"{plans_file}: not ready for production:", file=sys.stderr)
            for problem in problems:
                print(f"  {problem}", file=sys.stderr)
            return 1
    print(f"configuration OK ({plans_file}; {len(registry.plans)} plans)")
    return 0


def add_config_parser(sub: argparse._SubParsersAction) -> None:
    check = sub.add_parser("check-config", help="validate the configuration files in effect")
    check.add_argument(
        "--production",
        action="store_true",
        help="also refuse the bundled sample's placeholder identifiers (submitter, receiver, payer)",
    )
    check.set_defaults(func=_via_cli)


def _via_cli(args: argparse.Namespace) -> int:
    """The command as `calaim_pipeline.cli` exports it, looked up when it runs (the CLI's tests
    replace every `cli.cmd_*` with a recorder)."""
    from calaim_pipeline import cli

    return cli.cmd_check_config(args)
