"""Benchmark: one plan-month of N lines through the real job, against DuckDB's own CSV->Parquet copy.

Usage: uv run python scripts/benchmark.py --lines 1000000 5000000 [--keep] [--statewide [N]]

For each N it generates a fresh data root (seeded sample data, one plan, one month), then measures
in separate child processes, so each peak RSS is that process's alone:
  1. the floor: DuckDB copying the same encounters CSV to Parquet (read once, write once);
  2. the pipeline: `calaim run` for that plan-month (real Dagster job in-process, real warehouse),
     end to end, with its validation stages (metrics.json timings) and its 837 build (the
     manifest's build_seconds) reported apart.
With --statewide it also runs 10 plans x N lines (default 1M) for one month through
`calaim run --plan ALL` (a config folder with 7 synthetic plans beside the 3 bundled ones) and
reports the wall time and peak RSS. Figures append to bench-output/results.json.
Targets (issue #13): 837 build <= 1.5x the copy at 5M, end to end <= 6x, RSS <= 2 GB;
statewide (10M lines over 10 plans) <= 5 minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent
PLAN, MONTH = "LACARE", "2026-09"
STATEWIDE_PLANS = 10

COPY_SCRIPT = """
import duckdb, sys
con = duckdb.connect()
# The floor: read every field as text and write Parquet; skip the injected broken rows it cannot read.
con.execute(
    "COPY (SELECT * FROM read_csv(?, all_varchar=true, header=true, delim=',', quote='\\"', "
    "ignore_errors=true)) TO '" + sys.argv[2] + "' (FORMAT parquet)", [sys.argv[1]]
)
"""


def measure(command: list[str], env: dict[str, str]) -> tuple[float, float, int]:
    """(wall seconds, peak RSS in GB, exit code) of one child process."""
    started = time.perf_counter()
    proc = subprocess.Popen(
        command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=False
    )
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - started
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        sys.stderr.write(proc.stderr.read().decode(errors="replace")[-3000:])
    return wall, usage.ru_maxrss / 1024 / 1024, code


def run_one(lines: int, root: Path, keep: bool) -> dict:
    if root.exists():
        shutil.rmtree(root)
    env = {**os.environ, "CALAIM_DATA_DIR": str(root), "DAGSTER_HOME": str(root / "dagster_home")}
    started = time.perf_counter()
    subprocess.run(
        [
            sys.executable,
            "-m",
            "calaim_pipeline.cli",
            "generate",
            "--out",
            str(root),
            "--lines",
            str(lines),
            "--plans",
            PLAN,
            "--months",
            MONTH,
        ],
        env=env,
        check=True,
        stdout=subprocess.DEVNULL,
    )
    generate_s = time.perf_counter() - started
    csv_file = next((root / "landing" / PLAN / MONTH).glob("encounters*.csv"))

    copy_s, copy_gb, code = measure(
        [sys.executable, "-c", COPY_SCRIPT, str(csv_file), str(root / "copy.parquet")], env
    )
    assert code == 0, "DuckDB copy failed"
    run_s, run_gb, code = measure(
        [sys.executable, "-m", "calaim_pipeline.cli", "run", "--plan", PLAN, "--month", MONTH], env
    )
    metrics = json.loads(
        (
            root
            / "lake"
            / "_metrics"
            / f"plan_code={PLAN}"
            / f"extract_month={MONTH}"
            / "metrics.json"
        ).read_text()
    )
    manifest_file = root / "submissions" / PLAN / MONTH / "manifest.json"
    manifest = json.loads(manifest_file.read_text()) if manifest_file.exists() else {}
    result = {
        "lines": lines,
        "csv_mb": round(csv_file.stat().st_size / 1e6, 1),
        "generate_s": round(generate_s, 1),
        "duckdb_copy_s": round(copy_s, 2),
        "duckdb_copy_peak_rss_gb": round(copy_gb, 2),
        "pipeline_s": round(run_s, 2),
        "pipeline_peak_rss_gb": round(run_gb, 2),
        "ratio_to_copy": round(run_s / copy_s, 2),
        "build_ratio_to_copy": round((manifest.get("build_seconds") or 0) / copy_s, 2),
        "pipeline_exit_code": code,
        "rows_read": metrics["rows_read"],
        "accepted": metrics["accepted"],
        "rejected": metrics["rejected"],
        "stage_timings_s": metrics["timings"],
        "validation_s": round(sum(metrics["timings"].values()), 2),
        "submission_s": manifest.get("build_seconds"),
        "submission_lines": manifest.get("lines"),
        "submission_mb": round(sum(f["bytes"] for f in manifest.get("files", [])) / 1e6, 1),
    }
    if not keep:
        shutil.rmtree(root)
    return result


def _statewide_config(root: Path) -> Path:
    """A config folder: the bundled plans plus synthetic ones up to STATEWIDE_PLANS."""
    import yaml

    from calaim_pipeline.settings import config_file

    folder = root / "config"
    folder.mkdir(parents=True)
    shutil.copy(config_file("thresholds.yaml"), folder / "thresholds.yaml")
    plans = yaml.safe_load(config_file("plans.yaml").read_text())
    template = plans["plans"][0]
    for n in range(len(plans["plans"]) + 1, STATEWIDE_PLANS + 1):
        code = f"BENCH{n:02d}"
        plans["plans"].append(
            {
                **template,
                "code": code,
                "name": f"Bench Plan {n}",
                "submitter_id": code,
                "isa_sender_id": code,
                "gs_sender_code": code,
            }
        )
    (folder / "plans.yaml").write_text(yaml.safe_dump(plans, sort_keys=False))
    return folder


def run_statewide(lines: int, root: Path, keep: bool) -> dict:
    """10 plans x ``lines`` for one month through `calaim run --plan ALL`: wall time, peak RSS."""
    if root.exists():
        shutil.rmtree(root)
    root.mkdir(parents=True)
    config = _statewide_config(root)
    env = {
        **os.environ,
        "CALAIM_DATA_DIR": str(root / "data"),
        "DAGSTER_HOME": str(root / "data" / "dagster_home"),
        "CALAIM_CONFIG_DIR": str(config),
    }
    codes = ",".join(
        p["code"]
        for p in __import__("yaml").safe_load((config / "plans.yaml").read_text())["plans"]
    )
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "calaim_pipeline.cli", "generate", "--out", str(root / "data"),
         "--lines", str(lines), "--plans", codes, "--months", MONTH, "--incidents", "none"],
        env=env, check=True, stdout=subprocess.DEVNULL,
    )  # fmt: skip
    generate_s = time.perf_counter() - started
    run_s, run_gb, code = measure(
        [sys.executable, "-m", "calaim_pipeline.cli", "run", "--plan", "ALL", "--month", MONTH],
        env,
    )
    result = {
        "statewide_plans": STATEWIDE_PLANS,
        "lines_per_plan": lines,
        "generate_s": round(generate_s, 1),
        "run_s": round(run_s, 2),
        "peak_rss_gb": round(run_gb, 2),
        "exit_code": code,
    }
    if not keep:
        shutil.rmtree(root)
    return result


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--lines", type=int, nargs="+", default=[1_000_000, 5_000_000])
    parser.add_argument("--root", type=Path, default=PROJECT / "bench-output" / "data")
    parser.add_argument("--keep", action="store_true", help="keep the generated data root")
    parser.add_argument(
        "--statewide",
        type=int,
        nargs="?",
        const=1_000_000,
        default=None,
        help="also run 10 plans x N lines (default 1M) for one month with --plan ALL",
    )
    args = parser.parse_args()

    results = []
    header = (
        f"{'lines':>11} {'copy s':>8} {'copy GB':>8} {'validation s':>13} {'837 build s':>12} "
        f"{'end to end s':>13} {'peak GB':>8} {'build/copy':>11} {'e2e/copy':>9}"
    )
    print(header)
    for lines in args.lines:
        r = run_one(lines, args.root, args.keep)
        results.append(r)
        print(
            f"{r['lines']:>11,} {r['duckdb_copy_s']:>8.1f} {r['duckdb_copy_peak_rss_gb']:>8.2f} "
            f"{r['validation_s']:>13.1f} {r['submission_s'] or 0:>12.1f} {r['pipeline_s']:>13.1f} "
            f"{r['pipeline_peak_rss_gb']:>8.2f} {r['build_ratio_to_copy']:>11.2f} "
            f"{r['ratio_to_copy']:>9.2f}",
            flush=True,
        )
        print(f"{'':>11} stages: {r['stage_timings_s']}", flush=True)
        print(
            f"{'':>11} submission: {r['submission_s']} s for {r['submission_lines']} lines "
            f"({r['submission_mb']} MB of 837)",
            flush=True,
        )
    if args.statewide:
        s = run_statewide(args.statewide, args.root.parent / "statewide", args.keep)
        results.append(s)
        print(
            f"statewide: {s['statewide_plans']} plans x {s['lines_per_plan']:,} lines, "
            f"calaim run --plan ALL: {s['run_s']:.1f} s, peak {s['peak_rss_gb']:.2f} GB "
            f"(exit {s['exit_code']})",
            flush=True,
        )
    out = PROJECT / "bench-output" / "results.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    history = json.loads(out.read_text()) if out.exists() else []
    history.append(
        {"at": time.strftime("%Y-%m-%dT%H:%M:%S"), "cpus": os.cpu_count(), "results": results}
    )
    out.write_text(json.dumps(history, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
