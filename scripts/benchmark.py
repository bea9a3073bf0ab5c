"""Benchmark: one plan-month of N lines through the real job, against DuckDB's own CSV->Parquet copy.

Usage: uv run python scripts/benchmark.py --lines 1000000 5000000 [--keep] [--statewide [N]]
       [--staging-only] [--statewide-only] [--object-store]

For each N it generates a fresh data root (seeded sample data, one plan, one month), then measures
in separate child processes, so each peak RSS is that process's alone:
  1. the floor: DuckDB copying the same encounters CSV to Parquet (read once, write once);
  2. the pipeline: `calaim run` for that plan-month (real Dagster job in-process, real warehouse),
     end to end, with its validation stages (metrics.json timings) and its 837 build (the
     manifest's build_seconds) reported apart;
  3. the ingest profile's overhead: the same month rewritten in the bundled sample's profiled
     shape (hpsm_pipe: pipe-delimited Windows-1252, US dates, its own names and codes, packed
     diagnoses; calaim_pipeline/sample/profiled.py), and the reader's staging of the encounters
     file timed with and without the profile, alternately, best of STAGING_REPEAT each.
With --statewide it also runs 10 plans x N lines (default 1M) for one month through
`calaim run --plan ALL` (a config folder with 7 synthetic plans beside the 3 bundled ones) and
reports the wall time and peak RSS; with --object-store, against a data root in a bucket of a
local S3 server (scripts/bench_object_store.py, issue 16). Figures append to bench-output/results.json.
Targets (issue #13): 837 build <= 1.5x the copy at 5M, end to end <= 6x, RSS <= 2 GB;
statewide (10M lines over 10 plans) <= 5 minutes on 2 cores. Issue #15: staging with a profile
<= 1.10x staging without at 5M.
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
PROFILE = "hpsm_pipe"  # the bundled sample's profiled shape (config/profiles.yaml)
STAGING_REPEAT = 2

STAGE_SCRIPT = """
import json, sys, time
from pathlib import Path
from calaim_pipeline.ingest.contract import ALWAYS_REQUIRED
from calaim_pipeline.ingest.profile_sql import Reading
from calaim_pipeline.ingest.profiles import profile_for_plan
from calaim_pipeline.ingest.reader import stage_file
from calaim_pipeline.validation.engine import connect
path, work, plan = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]
active = profile_for_plan("HPSM") if sys.argv[4] == "profiled" else None
reading = Reading(active, "encounters", plan) if active is not None else None
work.mkdir(parents=True)
con = connect(work)
started, cpu = time.perf_counter(), time.process_time()
staged = stage_file(con, path, 0, work, ALWAYS_REQUIRED, reading=reading)
print(json.dumps({"s": time.perf_counter() - started, "cpu_s": time.process_time() - cpu,
                  "rows": staged.records + len(staged.unparseable)}))
"""

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


def measure_staging(root: Path, env: dict[str, str]) -> dict:
    """Staging the month's encounters with and without the ingest profile (same lines, same
    defects), alternately in fresh child processes, best of STAGING_REPEAT each."""
    from calaim_pipeline.ingest.profiles import profile_for_plan
    from calaim_pipeline.sample.profiled import reshape_month

    plain = root / "landing" / PLAN / MONTH
    own = root / "profiled" / PLAN / MONTH
    shutil.copytree(plain, own)
    active = profile_for_plan("HPSM")  # the bundled config (CALAIM_CONFIG_DIR is dropped)
    assert active is not None and active.name == PROFILE, "the bundled profile is missing"
    started = time.perf_counter()
    reshape_month(own, active)
    reshape_s = time.perf_counter() - started
    child_env = {k: v for k, v in env.items() if k != "CALAIM_CONFIG_DIR"}
    best: dict[str, dict] = {}
    for attempt in range(STAGING_REPEAT):
        for shape, folder in (("plain", plain), ("profiled", own)):
            (path,) = sorted(folder.glob("encounters*.csv"))
            work = root / "staging" / f"{shape}_{attempt}"
            out = subprocess.run(
                [sys.executable, "-c", STAGE_SCRIPT, str(path), str(work), PLAN, shape],
                env=child_env, check=True, capture_output=True, text=True,
            )  # fmt: skip
            shutil.rmtree(work)
            got = json.loads(out.stdout.strip().splitlines()[-1])
            if shape not in best or got["s"] < best[shape]["s"]:
                best[shape] = got
    assert best["plain"]["rows"] == best["profiled"]["rows"], "the two shapes differ in rows"
    shutil.rmtree(root / "profiled")
    return {
        "profile": PROFILE,
        "reshape_s": round(reshape_s, 1),
        "staging_s": round(best["plain"]["s"], 2),
        "staging_cpu_s": round(best["plain"]["cpu_s"], 2),
        "staging_profiled_s": round(best["profiled"]["s"], 2),
        "staging_profiled_cpu_s": round(best["profiled"]["cpu_s"], 2),
        "profile_ratio": round(best["profiled"]["s"] / best["plain"]["s"], 3),
    }


def run_one(lines: int, root: Path, keep: bool, staging_only: bool = False) -> dict:
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
    if staging_only:
        result = {"lines": lines, "generate_s": round(generate_s, 1), **measure_staging(root, env)}
        if not keep:
            shutil.rmtree(root)
        return result

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
        **measure_staging(root, env),
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


def run_statewide(lines: int, root: Path, keep: bool, object_store: bool = False) -> dict:
    """10 plans x ``lines`` for one month through `calaim run --plan ALL`: wall time, peak RSS.
    ``object_store``: the data root in a bucket of a local S3 server (bench_object_store.py)."""
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
    run = [sys.executable, "-m", "calaim_pipeline.cli", "run", "--plan", "ALL", "--month", MONTH]
    if object_store:
        sys.path.insert(0, str(PROJECT))
        from scripts.bench_object_store import object_store_env

        with object_store_env(root / "data", root / "logs") as extra:
            worker = {**env, **extra, "CALAIM_DATA_DIR": str(root / "worker")}
            run_s, run_gb, code = measure(run, worker)
    else:
        run_s, run_gb, code = measure(run, env)
    result = {
        "object_store": object_store,
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


def _print_staging(r: dict) -> None:
    print(
        f"{r['lines']:>11,} staging: {r['staging_s']:.2f} s without a profile, "
        f"{r['staging_profiled_s']:.2f} s through {r['profile']} "
        f"(ratio {r['profile_ratio']:.3f}; cpu {r['staging_cpu_s']:.2f} / "
        f"{r['staging_profiled_cpu_s']:.2f} s; target <= 1.10)",
        flush=True,
    )


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
    parser.add_argument(
        "--statewide-only", action="store_true", help="skip the one-plan runs of --lines"
    )
    parser.add_argument(
        "--object-store",
        action="store_true",
        help="run the statewide month against a data root on a local S3 server (issue 16)",
    )
    parser.add_argument(
        "--staging-only",
        action="store_true",
        help="only the ingest profile's staging overhead (no copy floor, no pipeline run)",
    )
    args = parser.parse_args()

    results = []
    header = (
        f"{'lines':>11} {'copy s':>8} {'copy GB':>8} {'validation s':>13} {'837 build s':>12} "
        f"{'end to end s':>13} {'peak GB':>8} {'build/copy':>11} {'e2e/copy':>9}"
    )
    print(header)
    for lines in [] if args.statewide_only else args.lines:
        r = run_one(lines, args.root, args.keep, args.staging_only)
        results.append(r)
        if args.staging_only:
            _print_staging(r)
            continue
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
        _print_staging(r)
    if args.statewide:
        s = run_statewide(
            args.statewide, args.root.parent / "statewide", args.keep, args.object_store
        )
        results.append(s)
        print(
            f"statewide{' (object storage)' if s['object_store'] else ''}: "
            f"{s['statewide_plans']} plans x {s['lines_per_plan']:,} lines, "
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
