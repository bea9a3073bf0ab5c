"""The submission ledger: which files were built or sent for a plan-month, and every line in them.

Two lake tables, one partition per plan-month, each replaced whole by an atomic rename:
- ``submissions``: one row per 837 file (status ``built`` until someone marks the month ``sent``);
- ``submitted_lines``: one row per line in those files, with the duplicate key PACES compares.

A sent month is final: its files went to DHCS, so neither its lake partitions nor its files may
change again; corrections go out as replacement (7) or void (8) claims in a later month. Builds and
``mark_sent`` for a plan hold the plan's ledger lock (``fcntl``, one host), so two processes never
interleave reading and writing the ledger.
"""

from __future__ import annotations

import fcntl
import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from calaim_pipeline import filemodes, gate, lake
from calaim_pipeline.sqltext import sql_list, sql_str

SUBMISSIONS = "submissions"
SUBMITTED_LINES = "submitted_lines"
BUILT, SENT = "built", "sent"


class SentMonthError(RuntimeError):
    """The plan-month was marked sent; nothing about it may be rebuilt or re-validated."""

    def __init__(self, plan: str, month: str, sent_at: str) -> None:
        super().__init__(
            f"{plan} {month} was marked sent on {sent_at}: its files and lake partitions are final. "
            "Send corrections as replacement (frequency 7) or void (frequency 8) claims in a later "
            "month's extract."
        )
        self.plan, self.month = plan, month


class LedgerError(RuntimeError):
    """The ledger does not allow the requested change (nothing built, files altered, ...)."""


@dataclass(frozen=True)
class MonthStatus:
    plan: str
    month: str
    status: str  # built | sent
    files: int
    created_at: str
    sent_at: str | None
    sent_by: str | None


def _files(lake_root: Path, table: str, plan: str, months: list[str]) -> list[str]:
    found = (lake.partition_file(lake_root, table, plan, month) for month in months)
    return [str(path) for path in found if path.is_file()]


def ledger_months(lake_root: Path, plan: str) -> list[str]:
    """Months of the plan with built or sent files, oldest first."""
    return lake.partition_months(lake_root, SUBMISSIONS, plan)


def month_status(lake_root: Path, plan: str, month: str) -> MonthStatus | None:
    path = lake.partition_file(lake_root, SUBMISSIONS, plan, month)
    if not path.is_file():
        return None
    rows = pq.read_table(path).to_pylist()
    if not rows:
        return None
    head = rows[0]
    return MonthStatus(
        plan=plan,
        month=month,
        status=head["status"],
        files=len(rows),
        created_at=str(head["created_at"]),
        sent_at=head.get("sent_at"),
        sent_by=head.get("sent_by"),
    )


def month_file_names(lake_root: Path, plan: str, month: str) -> list[str]:
    """The file names the ledger records for the plan-month (empty when nothing was built)."""
    path = lake.partition_file(lake_root, SUBMISSIONS, plan, month)
    if not path.is_file():
        return []
    return [str(name) for name in pq.read_table(path, columns=["file_name"])["file_name"]]


def sent_status(lake_root: Path, plan: str, month: str) -> MonthStatus | None:
    """The month's ledger status if it was marked sent, else None."""
    status = month_status(lake_root, plan, month)
    return status if status is not None and status.status == SENT else None


def refuse_if_sent(lake_root: Path, plan: str, month: str) -> None:
    status = sent_status(lake_root, plan, month)
    if status is not None:
        raise SentMonthError(plan, month, status.sent_at or "an earlier date")


@contextmanager
def ledger_lock(lake_root: Path, plan: str) -> Iterator[None]:
    """Exclusive per-plan lock held while the plan's ledger is read and then written."""
    lock_dir = lake_root / "_locks"
    filemodes.ensure_dir(lock_dir)
    with open(lock_dir / f"ledger-{plan}.lock", "a+") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


@contextmanager
def try_ledger_lock(lake_root: Path, plan: str) -> Iterator[bool]:
    """The plan's ledger lock if no one holds it (True), else False at once: start-up clean-up
    leaves a plan alone while a live process builds or marks it."""
    lock_dir = lake_root / "_locks"
    filemodes.ensure_dir(lock_dir)
    with open(lock_dir / f"ledger-{plan}.lock", "a+") as handle:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


# --- what validation compares against ---------------------------------------------------------


def ledger_tables_sql(lake_root: Path, plan: str, month: str, lines: str) -> list[str]:
    """Temp tables the ledger rules join to (empty when the plan has no ledger yet):

    - ``ledger_live_keys`` (duplicate_hash, duplicate_key): lines of the plan's other months that
      still stand at DHCS: from *earlier* months every line but voids; from *later* months (built
      before this one, e.g. this month is re-run, or ran late) only originals, because a later
      month's replacements repeat this month's keys by design. Lines of a claim that a void in
      the ledger cancelled do not stand. Comparing with both sides keeps the rule independent of
      the order months were built in: the same service never goes out twice.
    - ``ledger_claims`` (claim_id): claims submitted in an *earlier* month, the only ones a
      replacement or void may point at.
    - ``ledger_history`` (known): whether any earlier month is in the ledger at all. Before the
      first ledger month the originals predate this pipeline and cannot be judged.

    Only ledger lines whose service date falls within the service dates of ``lines`` (the
    relation being judged) can share a key with them, so only those are read: the work grows with
    the window of service dates in one month (about a year), not with the ledger's history.
    """
    others = [m for m in ledger_months(lake_root, plan) if m != month]
    earlier = [m for m in others if m < month]
    other_files = _files(lake_root, SUBMITTED_LINES, plan, others)
    earlier_files = _files(lake_root, SUBMITTED_LINES, plan, earlier)
    empty_keys = (
        "SELECT CAST(NULL AS UBIGINT) AS duplicate_hash, CAST(NULL AS VARCHAR) AS duplicate_key "
        "WHERE false"
    )
    empty_claims = "SELECT CAST(NULL AS VARCHAR) AS claim_id WHERE false"
    if other_files:
        source = f"read_parquet([{sql_list(other_files)}])"
        service_date = "TRY_CAST(service_from_date AS DATE)"
        keys = (
            f"SELECT DISTINCT duplicate_hash, duplicate_key FROM {source} "
            f"WHERE frequency_code <> '8' AND (extract_month < {sql_str(month)} "
            "OR frequency_code = '1') "
            f"AND service_from_date BETWEEN (SELECT min({service_date}) FROM {lines}) "
            f"AND (SELECT max({service_date}) FROM {lines}) AND claim_id NOT IN ("
            f"SELECT original_claim_id FROM {source} "
            "WHERE frequency_code = '8' AND original_claim_id IS NOT NULL)"
        )
    else:
        keys = empty_keys
    claims = (
        f"SELECT DISTINCT claim_id FROM read_parquet([{sql_list(earlier_files)}])"
        if earlier_files
        else empty_claims
    )
    return [
        f"CREATE OR REPLACE TEMP TABLE ledger_live_keys AS {keys}",
        f"CREATE OR REPLACE TEMP TABLE ledger_claims AS {claims}",
        f"CREATE OR REPLACE TEMP TABLE ledger_history AS SELECT {bool(earlier_files)} AS known",
    ]


def ledger_findings_sql(lines: str, key_sql: str) -> str:
    """For the relation ``lines`` (needs pos, frequency_code, original_claim_id and the key's
    columns): the positions each ledger rule fires on. Hashes narrow the candidates first so the
    full text keys are compared only for the few lines that may match."""
    return f"""
WITH cur AS (SELECT pos, {key_sql} AS k FROM {lines} WHERE frequency_code = '1'),
candidates AS (SELECT pos, k FROM cur WHERE hash(k) IN (SELECT duplicate_hash FROM ledger_live_keys))
SELECT pos, 'DUPLICATE_OF_SUBMITTED' AS rule_id FROM candidates
WHERE (hash(k), k) IN (SELECT (duplicate_hash, duplicate_key) FROM ledger_live_keys)
UNION ALL
SELECT pos, 'ORIGINAL_CLAIM_UNKNOWN' FROM {lines}
WHERE frequency_code IN ('7', '8') AND original_claim_id IS NOT NULL
  AND (SELECT known FROM ledger_history)
  AND original_claim_id NOT IN (SELECT claim_id FROM ledger_claims)
"""


# --- writing the ledger -----------------------------------------------------------------------


def submitted_lines_sql(encounter_lines: Path, key_sql: str, file_of_type: dict[str, tuple]) -> str:
    """One ledger row per accepted line: claim identity, duplicate key and the file it went in."""
    cases = " ".join(
        f"WHEN {sql_str(claim_type)} THEN {sql_str(name)}"
        for claim_type, (name, _) in file_of_type.items()
    )
    controls = " ".join(
        f"WHEN {sql_str(claim_type)} THEN {sql_str(control)}"
        for claim_type, (_, control) in file_of_type.items()
    )
    return f"""
SELECT plan_code, extract_month, claim_id, claim_type, frequency_code, original_claim_id,
  line_number, line_key, service_from_date, {key_sql} AS duplicate_key,
  hash({key_sql}) AS duplicate_hash,
  CASE claim_type {cases} END AS file_name,
  CASE claim_type {controls} END AS interchange_control_number
FROM read_parquet({sql_str(str(encounter_lines))})
"""


def write_submitted_lines(
    con: duckdb.DuckDBPyConnection, lake_root: Path, plan: str, month: str, query: str
) -> int:
    """Replace the month's ``submitted_lines`` partition with the rows of ``query``."""
    with lake.staged_path(lake.partition_file(lake_root, SUBMITTED_LINES, plan, month)) as tmp:
        con.execute(f"COPY ({query}) TO {sql_str(str(tmp))} (FORMAT parquet)")
        ((count,),) = con.execute(
            f"SELECT count(*) FROM read_parquet({sql_str(str(tmp))})"
        ).fetchall()
    return int(count)


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def mark_sent(
    lake_root: Path, submissions_root: Path, plan: str, month: str, reviewed_by: str
) -> MonthStatus:
    """Record that the plan-month's built files went to DHCS, after checking they are unchanged."""
    if not reviewed_by.strip():
        raise LedgerError("say who reviewed the files (reviewed_by)")
    with ledger_lock(lake_root, plan):
        _refuse_if_build_interrupted(submissions_root / plan / month, plan, month)
        try:
            judged = gate.require_passed(lake_root, plan, month)
        except gate.GateError as exc:
            raise LedgerError(str(exc).replace("submission refused", "not marked sent")) from None
        path = lake.partition_file(lake_root, SUBMISSIONS, plan, month)
        if not path.is_file():
            raise LedgerError(f"{plan} {month} has no built submission files to mark sent")
        table = pq.read_table(path)
        rows = table.to_pylist()
        if rows[0]["status"] == SENT:
            raise LedgerError(f"{plan} {month} was already marked sent on {rows[0]['sent_at']}")
        built_from = rows[0].get("judgement_id")
        if built_from != judged.judgement_id:
            raise LedgerError(
                f"{plan} {month}: not marked sent: its files were built from judgement "
                f"{built_from or 'unknown'}, but the month was judged again since "
                f"({judged.judgement_id}); rebuild the files and review them again"
            )
        folder = submissions_root / plan / month
        for row in rows:
            file = folder / row["file_name"]
            if not file.is_file():
                raise LedgerError(f"{plan} {month}: {row['file_name']} is missing from {folder}")
            if sha256_of(file) != row["sha256"]:
                raise LedgerError(
                    f"{plan} {month}: {row['file_name']} changed since it was built "
                    "(sha256 differs); rebuild the month before marking it sent"
                )
        sent_at = datetime.now(UTC).isoformat(timespec="seconds")
        for row in rows:
            row.update(status=SENT, sent_at=sent_at, sent_by=reviewed_by.strip())
        lake.write_partition(
            lake_root, SUBMISSIONS, plan, month, pa.Table.from_pylist(rows, table.schema)
        )
    status = month_status(lake_root, plan, month)
    assert status is not None
    return status


def _refuse_if_build_interrupted(folder: Path, plan: str, month: str) -> None:
    """A build of the month stopped before it finished: its ledger, manifest and files may be
    from two builds until the next run resolves it (submission/commit.py)."""
    from calaim_pipeline.submission.commit import interrupted

    if interrupted(folder):
        raise LedgerError(
            f"{plan} {month}: a build of this month was interrupted; run "
            f"`calaim run --plan {plan} --month {month}` before marking it sent"
        )
