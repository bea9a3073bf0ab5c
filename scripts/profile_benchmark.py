"""Benchmark: staging one plan-month's encounters with an ingest profile against without.

Usage: uv run python scripts/profile_benchmark.py --lines 1000000 [5000000] [--repeat 2]

For each N it generates a seeded sample month (one plan, contract shape), writes the same lines in
the ACME shape of the tests (pipe-delimited, Windows-1252, US dates, own names and codes, packed
diagnoses and modifiers; calaim_pipeline_tests/profiled.py), and times the reader's staging copy
of each (ingest.reader.stage_file, the step a profile changes) in the same process, best of
`--repeat`. Target (issue 15): staging with a profile costs <= 10% more than without. Appends the
figures to bench-output/profile_results.json.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT))

from calaim_pipeline.ingest.contract import ALWAYS_REQUIRED  # noqa: E402
from calaim_pipeline.ingest.profile_sql import Reading  # noqa: E402
from calaim_pipeline.ingest.profiles import ActiveProfile, ProfilesFile, content_hash  # noqa: E402
from calaim_pipeline.ingest.reader import stage_file  # noqa: E402
from calaim_pipeline.sample.generator import generate_sample  # noqa: E402
from calaim_pipeline.validation.engine import connect  # noqa: E402
from calaim_pipeline_tests.profiled import profile_yaml, rewrite_month  # noqa: E402

PLAN, MONTH = "LACARE", "2026-09"


def _profile() -> ActiveProfile:
    import yaml

    parsed = ProfilesFile.model_validate(yaml.safe_load(profile_yaml(PLAN)))
    profile = parsed.profiles["acme_pipe"]
    return ActiveProfile("acme_pipe", profile, content_hash(profile), Path("profiles.yaml"))


def _stage(path: Path, work: Path, reading: Reading | None, repeat: int) -> tuple[float, int]:
    best, rows = float("inf"), 0
    for attempt in range(repeat):
        folder = work / f"{'profiled' if reading else 'plain'}_{attempt}"
        folder.mkdir()
        con = connect(folder)
        started = time.perf_counter()
        staged = stage_file(con, path, 0, folder, ALWAYS_REQUIRED, reading=reading)
        best = min(best, time.perf_counter() - started)
        rows = staged.records + len(staged.unparseable)
        con.close()
        shutil.rmtree(folder)
    return best, rows


def run(lines: int, repeat: int, base: Path) -> dict:
    plain_root, profiled_root = base / "plain", base / "profiled"
    generate_sample(plain_root, plan_lines={PLAN: lines}, months=(MONTH,), seed=11)
    shutil.copytree(plain_root / "landing", profiled_root / "landing")
    rewrite_month(profiled_root / "landing" / PLAN / MONTH)
    (plain_file,) = sorted((plain_root / "landing" / PLAN / MONTH).glob("encounters*.csv"))
    (profiled_file,) = sorted((profiled_root / "landing" / PLAN / MONTH).glob("encounters*.csv"))
    work = base / "work"
    work.mkdir()
    plain_s, plain_rows = _stage(plain_file, work, None, repeat)
    reading = Reading(_profile(), "encounters", PLAN)
    profiled_s, profiled_rows = _stage(profiled_file, work, reading, repeat)
    assert plain_rows == profiled_rows, (plain_rows, profiled_rows)
    return {
        "lines": lines,
        "rows": plain_rows,
        "plain_s": round(plain_s, 2),
        "profiled_s": round(profiled_s, 2),
        "overhead": round(profiled_s / plain_s - 1, 3),
        "cpus": os.cpu_count(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, nargs="+", default=[1_000_000])
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    out = PROJECT / "bench-output"
    out.mkdir(exist_ok=True)
    results = []
    for lines in args.lines:
        with tempfile.TemporaryDirectory(dir=out) as base:
            result = run(lines, args.repeat, Path(base))
        print(json.dumps(result))
        results.append(result)
    log = out / "profile_results.json"
    previous = json.loads(log.read_text()) if log.is_file() else []
    log.write_text(json.dumps(previous + results, indent=2))


if __name__ == "__main__":
    main()
