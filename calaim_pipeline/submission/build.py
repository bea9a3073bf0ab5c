"""Build one plan-month's 837P and 837I files from its accepted lines and record them in the ledger.

Order of work, so a crash at any point leaves either the previous build or the new one:
1. refuse a sent month, and a month whose stored checks did not pass on its current judgement
   (gate.py); take the plan's ledger lock and ask the gate again;
2. check the lake's accepted lines are those of the judgement the checks passed; if the files of
   that same judgement are already built and intact, keep them ("unchanged": same files, same
   control numbers) and stop;
3. re-check the ledger rules against the ledger as it is *now* (a month built after this one was
   validated may own some of its lines): refuse to build rather than send a duplicate;
4. write each file under a temporary name, then rename it into place (new ISA13, new name);
5. commit (submission/commit.py): replace the month's ``submitted_lines`` partition and
   ``manifest.json``, then its ``submissions`` partition (the commit point), and only then remove
   the earlier build's files. A crash before the commit point leaves the earlier build in force,
   a crash after it the new one; the next run's clean-up finishes either.
"""

from __future__ import annotations

import os
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa

from calaim_pipeline import filemodes, gate, lake, owner, recovery
from calaim_pipeline.ledger import encounter_status
from calaim_pipeline.month_record import MonthRecord
from calaim_pipeline.settings import DataPaths, DuckDBLimits, PlansRegistry
from calaim_pipeline.sqltext import sql_str
from calaim_pipeline.submission import commit, ledger
from calaim_pipeline.submission.accepted_lines import lake_sources
from calaim_pipeline.submission.control import ControlNumberStore
from calaim_pipeline.submission.x12.envelope import TRANSACTION_FOR_CLAIM_TYPE
from calaim_pipeline.submission.x12.renderer import FileTotals, write_837
from calaim_pipeline.validation.engine import connect
from calaim_pipeline.validation.sql import duplicate_key_sql

MANIFEST = commit.MANIFEST

SUBMISSIONS_SCHEMA = pa.schema(
    [
        ("plan_code", pa.string()),
        ("extract_month", pa.string()),
        ("file_name", pa.string()),
        ("transaction", pa.string()),
        ("interchange_control_number", pa.string()),
        ("group_control_number", pa.string()),
        ("transaction_sets", pa.int64()),
        ("claims", pa.int64()),
        ("lines", pa.int64()),
        ("total_billed", pa.decimal128(18, 2)),
        ("total_paid", pa.decimal128(18, 2)),
        ("sha256", pa.string()),
        ("bytes", pa.int64()),
        ("created_at", pa.string()),
        ("status", pa.string()),
        ("sent_at", pa.string()),
        ("sent_by", pa.string()),
        ("judgement_id", pa.string()),
    ]
)


class StaleValidationError(RuntimeError):
    """Lines accepted at validation now collide with the ledger (another month was built since)."""


@dataclass
class SubmissionResult:
    plan: str
    month: str
    folder: Path
    manifest: dict[str, Any]
    unchanged: bool = False  # the judgement's files were already built: kept as they were

    @property
    def files(self) -> list[dict[str, Any]]:
        return self.manifest["files"]


def submission_folder(paths: DataPaths, plan: str, month: str) -> Path:
    return paths.submissions / plan / month


def _check_ledger_now(paths: DataPaths, plan: str, month: str, lines_file: Path, con) -> None:
    lines = (
        f"(SELECT *, file_row_number AS pos FROM read_parquet({sql_str(str(lines_file))}, "
        "file_row_number = true))"
    )
    for statement in ledger.ledger_tables_sql(paths.lake, plan, month, lines):
        con.execute(statement)
    found = con.execute(
        f"SELECT rule_id, count(*) FROM ({ledger.ledger_findings_sql(lines, duplicate_key_sql())}) "
        "GROUP BY rule_id ORDER BY rule_id"
    ).fetchall()
    if found:
        counts = ", ".join(f"{rule}: {n} lines" for rule, n in found)
        raise StaleValidationError(
            f"{plan} {month} was validated before the ledger changed ({counts}); "
            "re-run the plan-month so these lines are judged against the ledger, then build again"
        )


def _line_counts(con, lines_file: Path) -> dict[str, tuple[int, int]]:
    rows = con.execute(
        "SELECT claim_type, count(DISTINCT (claim_id, frequency_code)), count(*) "
        f"FROM read_parquet({sql_str(str(lines_file))}) GROUP BY claim_type"
    ).fetchall()
    return {claim_type: (int(claims), int(lines)) for claim_type, claims, lines in rows}


def _check_lines_are_judged(con, lines_file: Path, judged: MonthRecord, where: str) -> None:
    """The lake's accepted lines must be the ones the checks passed on (not a newer judgement)."""
    if gate.accepted_digest(con, lines_file) != judged.accepted_digest:
        raise gate.GateError(
            f"{where}: submission refused: the lake's accepted lines differ from the judgement "
            f"{judged.judgement_id} the checks were evaluated on; re-run the plan-month"
        )


def _unchanged_build(paths: DataPaths, plan: str, month: str, judgement: str) -> dict | None:
    """The manifest of an intact earlier build of this same judgement, else None."""
    manifest_file = submission_folder(paths, plan, month) / MANIFEST
    status = ledger.month_status(paths.lake, plan, month)
    if not manifest_file.is_file() or status is None or status.status != ledger.BUILT:
        return None
    manifest = lake.read_json(manifest_file)
    if manifest.get("judgement_id") != judgement:
        return None
    names = {f["file_name"] for f in manifest["files"]}
    if names != set(ledger.month_file_names(paths.lake, plan, month)):
        return None
    for entry in manifest["files"]:
        file = manifest_file.parent / entry["file_name"]
        if not file.is_file() or ledger.sha256_of(file) != entry["sha256"]:
            return None
    return manifest


def _money(value: Decimal) -> str:
    return f"{value:.2f}"


def build_submission(
    paths: DataPaths,
    registry: PlansRegistry,
    plan_code: str,
    month: str,
    *,
    now: datetime | None = None,
    limits: DuckDBLimits | None = None,
) -> SubmissionResult:
    """Write the plan-month's 837 files, manifest and ledger partitions; see the module text."""
    ledger.refuse_if_sent(paths.lake, plan_code, month)
    gate.require_passed(paths.lake, plan_code, month)
    started = time.perf_counter()
    plan = registry.plan(plan_code)
    created = now or datetime.now(UTC)
    lines_file = lake.partition_file(paths.lake, "encounter_lines", plan_code, month)
    if not lines_file.is_file():
        raise FileNotFoundError(f"{plan_code} {month} has not been validated (no encounter_lines)")
    folder = submission_folder(paths, plan_code, month)
    filemodes.ensure_dir(folder)
    work = recovery.WorkFolder(paths, f"submission_{plan_code}_{month}")
    work_dir = work.path
    try:
        con = connect(work_dir, limits)
    except BaseException:
        work.remove()  # staging holds member data: removed on every path
        raise
    try:
        with ledger.ledger_lock(paths.lake, plan_code):
            ledger.refuse_if_sent(paths.lake, plan_code, month)
            judged = gate.require_passed(paths.lake, plan_code, month)
            _check_lines_are_judged(con, lines_file, judged, f"{plan_code} {month}")
            _check_ledger_now(paths, plan_code, month, lines_file, con)
            kept = _unchanged_build(paths, plan_code, month, judged.judgement_id)
            if kept is not None:
                return SubmissionResult(plan_code, month, folder, kept, unchanged=True)
            expected = _line_counts(con, lines_file)
            controls = ControlNumberStore(paths.submissions / "_control")
            # REF*F8 of a replacement or void: the DHCS ICN of its accepted original.
            encounter_status.install_original_icns(con, paths.lake, plan_code, month)
            rows: list[dict[str, Any]] = []
            file_of_type: dict[str, tuple[str, str]] = {}
            temporary: list[Path] = []
            try:
                for claim_type in sorted(expected):  # "I" before "P": stable file order
                    transaction = TRANSACTION_FOR_CLAIM_TYPE[claim_type]
                    sources = lake_sources(paths.lake, plan_code, month, claim_type)
                    numbers = controls.allocate(plan_code)
                    name = f"{plan_code}_{month}_{transaction}_{numbers.isa13}.x12"
                    fd, tmp = tempfile.mkstemp(
                        dir=folder, prefix=owner.temp_prefix(), suffix=".x12"
                    )
                    out = Path(tmp)
                    temporary.append(out)
                    with os.fdopen(fd, "wb") as handle:
                        totals: FileTotals = write_837(
                            handle, transaction, sources, plan, registry.receiver, numbers,
                            created, con,
                        )  # fmt: skip
                        handle.flush()
                        os.fsync(handle.fileno())
                    if (totals.claims, totals.lines) != expected[claim_type]:
                        raise RuntimeError(
                            f"{name}: wrote {totals.claims} claims / {totals.lines} lines, the "
                            f"lake has {expected[claim_type][0]} / {expected[claim_type][1]}"
                        )
                    digest, size = ledger.sha256_of(out), out.stat().st_size
                    filemodes.secure_file(out)
                    os.replace(out, folder / name)
                    file_of_type[claim_type] = (name, numbers.isa13)
                    rows.append(
                        {
                            "plan_code": plan_code,
                            "extract_month": month,
                            "file_name": name,
                            "transaction": transaction,
                            "interchange_control_number": numbers.isa13,
                            "group_control_number": numbers.gs06,
                            "transaction_sets": totals.transaction_sets,
                            "claims": totals.claims,
                            "lines": totals.lines,
                            "total_billed": totals.billed,
                            "total_paid": totals.paid,
                            "sha256": digest,
                            "bytes": size,
                            "created_at": created.isoformat(timespec="seconds"),
                            "status": ledger.BUILT,
                            "sent_at": None,
                            "sent_by": None,
                            "judgement_id": judged.judgement_id,
                        }
                    )
            finally:
                for out in temporary:
                    out.unlink(missing_ok=True)
            manifest = _manifest(plan_code, month, created, rows)
            manifest["judgement_id"] = judged.judgement_id
            manifest["build_seconds"] = round(time.perf_counter() - started, 2)
            # Ledger lines and manifest, then `submissions` (the commit point); the earlier
            # build's files go only after it (commit.py; docs/decisions.md).
            names = [row["file_name"] for row in rows]
            with commit.month_commit(paths.lake, folder, plan_code, month, names):
                ledger.write_submitted_lines(
                    con,
                    paths.lake,
                    plan_code,
                    month,
                    ledger.submitted_lines_sql(lines_file, duplicate_key_sql(), file_of_type),
                )
                lake.write_json_atomic(folder / MANIFEST, manifest)
                lake.write_partition(
                    paths.lake,
                    ledger.SUBMISSIONS,
                    plan_code,
                    month,
                    pa.Table.from_pylist(rows, SUBMISSIONS_SCHEMA),
                )
        return SubmissionResult(plan_code, month, folder, manifest)
    finally:
        con.close()
        work.remove()


def _manifest(
    plan: str, month: str, created: datetime, rows: list[dict[str, Any]]
) -> dict[str, Any]:
    files = [
        {
            "file_name": row["file_name"],
            "transaction": row["transaction"],
            "implementation_guide": "005010X222A1"
            if row["transaction"] == "837P"
            else "005010X223A2",
            "interchange_control_number": row["interchange_control_number"],
            "group_control_number": row["group_control_number"],
            "transaction_sets": row["transaction_sets"],
            "claims": row["claims"],
            "lines": row["lines"],
            "total_billed": _money(row["total_billed"]),
            "total_paid": _money(row["total_paid"]),
            "sha256": row["sha256"],
            "bytes": row["bytes"],
        }
        for row in rows
    ]
    return {
        "plan_code": plan,
        "extract_month": month,
        "created_at": created.isoformat(timespec="seconds"),
        "files": files,
        "claims": sum(row["claims"] for row in rows),
        "lines": sum(row["lines"] for row in rows),
        "total_billed": _money(sum((row["total_billed"] for row in rows), Decimal(0))),
        "total_paid": _money(sum((row["total_paid"] for row in rows), Decimal(0))),
    }
