"""Write big 837 files with every core: runs of whole transaction sets in worker processes.

Formatting X12 is per-segment Python (about 90 µs a line on one core), so a 5M-line month would
spend minutes in one process. An interchange is a head (ISA, GS), numbered transaction sets
(ST..SE, each self-contained: HL numbers restart in every set) and a tail (GE, IEA). So each worker
takes a run of whole sets, reads exactly their claims (by claim sequence number) from the staged
claim file, writes them to a part file with the right set numbers, and the parent concatenates
head + parts + tail. The result is byte-identical to writing the file in one process.
"""

from __future__ import annotations

import math
import os
import shutil
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from multiprocessing import get_context
from pathlib import Path

import duckdb

from calaim_pipeline.settings import Plan, Receiver
from calaim_pipeline.submission.control import ControlNumbers
from calaim_pipeline.submission.x12_837 import (
    CLAIMS_PER_TRANSACTION_SET,
    FileTotals,
    Transaction,
    claims_from_staged,
    write_envelope_head,
    write_envelope_tail,
    write_transaction_sets,
)

WORKER_MEMORY = "400MB"  # each worker's DuckDB only reads a range of one Parquet file


@dataclass(frozen=True)
class FileJob:
    """One interchange to write from a ``stage_claims`` file holding ``claims`` claims."""

    transaction: Transaction
    staged: Path
    claims: int
    out: Path
    plan: Plan
    receiver: Receiver
    control: ControlNumbers
    created: datetime
    claims_per_transaction_set: int = CLAIMS_PER_TRANSACTION_SET


@dataclass(frozen=True)
class _Part:
    job: FileJob
    first_seq: int
    last_seq: int
    first_set: int
    out: Path


def _parts(job: FileJob, sets_per_part: int) -> list[_Part]:
    sets = math.ceil(job.claims / job.claims_per_transaction_set)
    parts = []
    for index, first_set in enumerate(range(1, sets + 1, sets_per_part)):
        first_seq = (first_set - 1) * job.claims_per_transaction_set + 1
        last_seq = min((first_set - 1 + sets_per_part) * job.claims_per_transaction_set, job.claims)
        out = job.out.with_name(f"{job.out.name}.part{index:04d}")
        parts.append(_Part(job, first_seq, last_seq, first_set, out))
    return parts


def _write_part(part: _Part) -> FileTotals:
    """Runs in a worker: the part's transaction sets, to its own file."""
    job = part.job
    con = duckdb.connect(config={"memory_limit": WORKER_MEMORY, "threads": 1})
    con.execute("SET enable_progress_bar = false")
    try:
        with open(part.out, "w", encoding="ascii", newline="") as handle:
            return write_transaction_sets(
                handle,
                job.transaction,
                claims_from_staged(job.staged, part.first_seq, part.last_seq, con),
                job.plan,
                job.receiver,
                job.control,
                job.created,
                first_set_number=part.first_set,
                claims_per_transaction_set=job.claims_per_transaction_set,
            )
    finally:
        con.close()


def default_workers() -> int:
    return max(1, int(os.environ.get("CALAIM_SUBMISSION_WORKERS", os.cpu_count() or 1)))


def write_interchanges(jobs: list[FileJob], workers: int | None = None) -> list[FileTotals]:
    """Write every job's file (``job.out``) and return their totals, in job order."""
    workers = workers or default_workers()
    total_sets = sum(math.ceil(j.claims / j.claims_per_transaction_set) for j in jobs)
    # About two parts per worker evens out uneven parts without paying start-up per set.
    sets_per_part = max(1, math.ceil(total_sets / (workers * 2)))
    plan = {id(job): _parts(job, sets_per_part) for job in jobs}
    all_parts = [part for job in jobs for part in plan[id(job)]]
    try:
        if workers == 1 or len(all_parts) <= 1:
            results = [_write_part(part) for part in all_parts]
        else:
            with ProcessPoolExecutor(
                max_workers=min(workers, len(all_parts)), mp_context=get_context("spawn")
            ) as pool:
                results = list(pool.map(_write_part, all_parts))
        by_part = dict(zip([id(p) for p in all_parts], results, strict=True))
        out: list[FileTotals] = []
        for job in jobs:
            totals = FileTotals(job.transaction, job.control.isa13, job.control.gs06)
            with open(job.out, "w", encoding="ascii", newline="") as handle:
                write_envelope_head(
                    handle, job.transaction, job.plan, job.receiver, job.control, job.created
                )
                for part in plan[id(job)]:
                    part_totals = by_part[id(part)]
                    with open(part.out, encoding="ascii", newline="") as piece:
                        shutil.copyfileobj(piece, handle, 1 << 20)
                    totals.transaction_sets += part_totals.transaction_sets
                    totals.claims += part_totals.claims
                    totals.lines += part_totals.lines
                    totals.billed += part_totals.billed
                    totals.paid += part_totals.paid
                write_envelope_tail(handle, totals.transaction_sets, job.control)
                handle.flush()
                os.fsync(handle.fileno())
            out.append(totals)
        return out
    finally:
        for part in all_parts:
            part.out.unlink(missing_ok=True)
