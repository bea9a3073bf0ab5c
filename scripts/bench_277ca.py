"""Benchmark: ingest one 277CA answering a million claims (issue 12: <= 60 s, <= 1 GB).

Usage: .venv/bin/python scripts/bench_277ca.py [--claims 1000000] [--keep]

Sets up (not measured) a data root whose ledger holds one sent 837P file of N one-line claims
(`submissions` and `submitted_lines` partitions, as a build leaves them) and the 277CA the DHCS
simulator writes for it (5% rejected). Then measures, in a child process so the peak RSS is its
alone, `ingest_plan`: read with pyx12's tokenizer, match every claim to the ledger, write the
history and response partitions, move the file. Prints wall time and peak RSS and appends them to
bench-output/results.json.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT / "scripts"))
from benchmark import measure  # noqa: E402

PLAN, MONTH, ISA13 = "CHG", "2026-06", "000000777"
FILE = f"{PLAN}_{MONTH}_837P_{ISA13}.x12"
PER_SET = 5000

INGEST = """
import sys
from calaim_pipeline.responses.ingest import ingest_plan, INGESTED
from calaim_pipeline.settings import data_paths, load_plans
outcomes = ingest_plan(data_paths(), load_plans(), "CHG")
ok = len(outcomes) == 1 and outcomes[0].outcome == INGESTED and outcomes[0].claims == int(sys.argv[1])
print(outcomes[0].message if outcomes else "nothing ingested", file=sys.stderr)
sys.exit(0 if ok else 1)
"""


def set_up(root: Path, claims: int) -> Path:
    import duckdb
    import pyarrow as pa

    from calaim_pipeline import lake
    from calaim_pipeline.responses.simulator import decide, write_277ca
    from calaim_pipeline.responses.submitted import SubmittedClaim, SubmittedFile, SubmittedSet
    from calaim_pipeline.submission.build import SUBMISSIONS_SCHEMA

    sets = -(-claims // PER_SET)
    row = dict.fromkeys(SUBMISSIONS_SCHEMA.names)
    row |= {
        "plan_code": PLAN,
        "extract_month": MONTH,
        "file_name": FILE,
        "transaction": "837P",
        "interchange_control_number": ISA13,
        "group_control_number": "777",
        "transaction_sets": sets,
        "claims": claims,
        "lines": claims,
        "created_at": "2026-07-01T00:00:00+00:00",
        "status": "sent",
        "sent_at": "2026-07-02T00:00:00+00:00",
        "sent_by": "benchmark",
    }
    lake.write_partition(
        root / "lake", "submissions", PLAN, MONTH, pa.Table.from_pylist([row], SUBMISSIONS_SCHEMA)
    )
    target = lake.partition_file(root / "lake", "submitted_lines", PLAN, MONTH)
    target.parent.mkdir(parents=True, exist_ok=True)
    duckdb.execute(
        f"""COPY (SELECT '{PLAN}' AS plan_code, '{MONTH}' AS extract_month,
          printf('{PLAN}-202606-%08d', i) AS claim_id, 'P' AS claim_type, '1' AS frequency_code,
          CAST(NULL AS VARCHAR) AS original_claim_id, 1 AS line_number,
          printf('{PLAN}:{PLAN}-202606-%08d:1:1', i) AS line_key,
          DATE '2026-05-01' + CAST(i % 28 AS INTEGER) AS service_from_date,
          CAST(i AS VARCHAR) AS duplicate_key, hash(i) AS duplicate_hash,
          '{FILE}' AS file_name, '{ISA13}' AS interchange_control_number
        FROM range({claims}) t(i)) TO '{target}' (FORMAT parquet)"""
    )
    sub = SubmittedFile(
        Path(FILE), "ZZ", "CHG00001", "ZZ", "DHCSPACES", ISA13, "777", "CHG00001", "DHCSPACES"
    )
    sub.guide, sub.receiver_name = "005010X222A1", "DEPARTMENT OF HEALTH CARE SERVICES"
    for s in range(sets):
        tx = SubmittedSet(
            f"{s + 1:04d}", f"{ISA13}{s + 1:04d}", "COMMUNITY HEALTH GROUP", "CHG00001"
        )
        tx.claims = [
            SubmittedClaim(
                f"{PLAN}-202606-{i:08d}",
                "1",
                "125.00",
                "UNITY HEALTH CENTER",
                "1234567893",
                "DOE",
                "JANE",
                "91234567A",
                "20260501",
                "20260501",
            )
            for i in range(s * PER_SET, min(claims, (s + 1) * PER_SET))
        ]
        sub.sets.append(tx)
    when = datetime(2026, 7, 10, 9, 0)
    answers = decide(sub, 7, 0.05, when, set())
    out = root / "responses" / PLAN / f"SIMULATED_{Path(FILE).stem}.277ca"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(write_277ca(sub, answers, 1555, when), encoding="ascii")
    return out


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--claims", type=int, default=1_000_000)
    parser.add_argument("--root", type=Path, default=PROJECT / "bench-output" / "data-277ca")
    parser.add_argument("--keep", action="store_true", help="keep the generated data root")
    parser.add_argument("--set-up-only", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.set_up_only:
        set_up(args.root, args.claims)
        return 0
    if args.root.exists():
        shutil.rmtree(args.root)
    started = time.perf_counter()
    # The set-up runs in its own process: a child's peak RSS counts what its parent held when it
    # was forked, so the measuring process must stay small.
    subprocess.run(
        [
            sys.executable,
            __file__,
            "--set-up-only",
            "--claims",
            str(args.claims),
            "--root",
            str(args.root),
        ],
        check=True,
    )
    response = next((args.root / "responses" / PLAN).glob("*.277ca"))
    size = response.stat().st_size / 1e6
    print(
        f"set-up: {args.claims:,} claims, 277CA {size:.0f} MB in {time.perf_counter() - started:.1f}s"
    )
    env = {**__import__("os").environ, "CALAIM_DATA_DIR": str(args.root)}
    wall, rss, code = measure([sys.executable, "-c", INGEST, str(args.claims)], env)
    print(
        f"ingest 277CA of {args.claims:,} claims: {wall:.1f} s, peak RSS {rss:.2f} GB, exit {code}"
    )
    results = PROJECT / "bench-output" / "results.json"
    results.parent.mkdir(parents=True, exist_ok=True)
    previous = json.loads(results.read_text()) if results.is_file() else []
    previous.append(
        {
            "benchmark": "ingest_277ca",
            "claims": args.claims,
            "file_mb": round(size, 1),
            "seconds": round(wall, 1),
            "peak_rss_gb": round(rss, 3),
            "at": datetime.now(UTC).isoformat(timespec="seconds"),
        }
    )
    results.write_text(json.dumps(previous, indent=2))
    if not args.keep:
        shutil.rmtree(args.root)
    return code


if __name__ == "__main__":
    sys.exit(main())
