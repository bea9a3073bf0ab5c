"""Ingest the 999 and 277CA files that land in ``<data root>/responses/<PLAN>/``.

Each file is read with pyx12's tokenizer (parser.py), matched to our own files plan by plan (999:
AK1 group control number = our GS06 and AK2 = our ST02; 277CA: 2200B TRN02 = our BHT03, which is
our ISA13 + ST02, and 2200D TRN02 = our CLM01), and its rows appended to the ledger's response
tables (ledger/encounter_status.py) under the plan's ledger lock. Then the file moves to
``processed/``. A file that cannot be used moves to ``rejected/`` with ``<name>.reason.txt`` and
changes nothing; the other files are still ingested. Messages name the file, control numbers and
counts, never member data (a 277CA names patients).

Re-ingesting is idempotent: a response whose sha256 was ingested before is refused as a repeat,
and rows an interrupted ingestion left are replaced, not doubled (append_partition).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from calaim_pipeline import filemodes, lake, owner
from calaim_pipeline.ledger import encounter_status as es
from calaim_pipeline.responses.parser import Ack277, Ack999, guide_of, parse_277ca, parse_999
from calaim_pipeline.responses.x12 import GUIDE_277CA, GUIDE_999, X12ReadError
from calaim_pipeline.settings import DataPaths, PlansRegistry
from calaim_pipeline.sqltext import sql_str
from calaim_pipeline.submission import ledger

PROCESSED, REJECTED = "processed", "rejected"
INGESTED, REFUSED = "ingested", "rejected"


class ResponseError(ValueError):
    """Why a response file cannot be ingested (the message names no member data)."""


@dataclass(frozen=True)
class FileOutcome:
    file: str
    outcome: str  # ingested | rejected
    message: str
    kind: str = ""  # 999 | 277CA
    plan: str = ""
    month: str = ""
    claims: int = 0
    notes: tuple[str, ...] = ()  # e.g. out of order: kept in history, the newer status stands


def landing(paths: DataPaths, plan: str) -> Path:
    return paths.responses / plan


def pending(paths: DataPaths, plan: str) -> list[Path]:
    """Files waiting in the plan's folder (not hidden, not a temporary name), oldest name first."""
    folder = landing(paths, plan)
    if not folder.is_dir():
        return []
    return sorted(
        p
        for p in folder.iterdir()
        if p.is_file() and not p.is_symlink() and not p.name.startswith((".", owner.TEMP_PREFIX))
    )


def _sha256(path: Path) -> str:
    return ledger.sha256_of(path)


def _submissions(paths: DataPaths, plan: str) -> list[dict]:
    rows = []
    for month in ledger.ledger_months(paths.lake, plan):
        file = lake.partition_file(paths.lake, ledger.SUBMISSIONS, plan, month)
        rows.extend(pq.read_table(file).to_pylist())
    return rows


def _check_plan(envelope, plan: str, registry: PlansRegistry) -> None:
    ours = registry.plan(plan).isa_sender_id.upper()
    receiver = envelope.receiver.upper()
    if receiver == ours:
        return
    other = [p.code for p in registry.plans if p.isa_sender_id.upper() == receiver]
    if other:
        raise ResponseError(
            f"is addressed to plan {other[0]} (ISA08 {envelope.receiver}), not {plan}: "
            f"another plan's response in {plan}'s folder; move it to responses/{other[0]}/"
        )
    raise ResponseError(f"is addressed to ISA08 {envelope.receiver!r}, not {plan} ({ours})")


def _sent_file(row: dict, what: str) -> None:
    if row["status"] != ledger.SENT:
        raise ResponseError(
            f"answers {row['file_name']} ({what}), which was never marked sent; "
            f"mark {row['plan_code']} {row['extract_month']} sent first, then ingest again"
        )


def _rows_999(ack: Ack999, subs: list[dict], base: dict) -> tuple[str, pa.Table]:
    gs06 = ack.group_control_number
    match = [r for r in subs if r["group_control_number"] == gs06]
    if not match:
        raise ResponseError(f"acknowledges GS06 {gs06}, a group control number we never sent")
    row = match[0]
    _sent_file(row, f"GS06 {gs06}")
    known = {f"{n:04d}" for n in range(1, int(row["transaction_sets"]) + 1)}
    unknown = sorted({s.st02 for s in ack.sets} - known)
    if unknown:
        raise ResponseError(
            f"acknowledges transaction set(s) {', '.join(unknown)} of GS06 {gs06}; "
            f"{row['file_name']} has {len(known)}"
        )
    records = [
        base
        | {
            "extract_month": row["extract_month"],
            "response_type": "999",
            "file_name": row["file_name"],
            "interchange_control_number": row["interchange_control_number"],
            "group_control_number": gs06,
            "transaction_set_control_number": s.st02,
            "ack_code": s.ack_code,
            "group_ack_code": ack.group_ack_code,
            "ik3_codes": "|".join(s.ik3) or None,
            "ik4_codes": "|".join(s.ik4) or None,
            "ik5_codes": "|".join(s.ik5) or None,
        }
        for s in ack.sets
    ]
    return row["extract_month"], pa.Table.from_pylist(records, es.RESPONSES_SCHEMA)


def _rows_277(
    ack: Ack277, subs: list[dict], base: dict, paths: DataPaths, con: duckdb.DuckDBPyConnection
) -> tuple[str, pa.Table, str, int]:
    by_isa = {r["interchange_control_number"]: r for r in subs}
    files = {}
    for trace in ack.traces:
        row = by_isa.get(trace[:9])
        if row is None or not trace[9:].isdigit():
            raise ResponseError(
                f"answers BHT03 {trace}, which is not a transaction set of any interchange "
                "we sent (unknown control number)"
            )
        _sent_file(row, f"ISA13 {trace[:9]}")
        files[row["interchange_control_number"]] = row
    if len({r["extract_month"] for r in files.values()}) != 1:
        raise ResponseError("answers files of more than one extract month")
    month = next(iter(files.values()))["extract_month"]
    plan = base["plan_code"]
    con.register("answered", ack.claims.table())  # unregistered by ingest_file when done
    lines = lake.partition_file(paths.lake, ledger.SUBMITTED_LINES, plan, month)
    submitted = (
        "(SELECT DISTINCT interchange_control_number, file_name, claim_id, frequency_code "
        f"FROM read_parquet({sql_str(str(lines))}))"
    )
    ((unknown,),) = con.execute(
        f"SELECT count(*) FROM answered a ANTI JOIN {submitted} s "
        "USING (interchange_control_number, claim_id)"
    ).fetchall()
    if unknown:
        raise ResponseError(
            f"answers {unknown} claim(s) (2200D TRN02) that are not in the interchange they "
            "name: unknown claim control numbers"
        )
    stamp = "CAST({} AS TIMESTAMP)"
    history = f"""SELECT {sql_str(plan)} AS plan_code, {sql_str(month)} AS extract_month,
      a.claim_id, s.frequency_code, s.file_name, a.interchange_control_number, a.status,
      a.dhcs_icn, nullif(a.stc_codes, '') AS stc_codes,
      {sql_str(base["response_file"])} AS response_file,
      {sql_str(base["response_sha256"])} AS response_sha256,
      {stamp.format(sql_str(base["response_date"].isoformat(sep=" ")))} AS response_date,
      {stamp.format(sql_str(base["ingested_at"].isoformat(sep=" ")))} AS ingested_at,
      {bool(base["simulated"])} AS simulated
    FROM answered a JOIN {submitted} s USING (interchange_control_number, claim_id)"""
    summary = con.execute(
        "SELECT interchange_control_number, count(*) FILTER (status = 'accepted'), "
        f"count(*) FILTER (status = 'rejected'), count(*) FROM ({history}) GROUP BY ALL ORDER BY ALL"
    ).fetchall()
    records = []
    for isa13, accepted, rejected, _ in summary:
        row = files[isa13]
        records.append(
            base
            | {
                "extract_month": month,
                "response_type": "277CA",
                "file_name": row["file_name"],
                "interchange_control_number": isa13,
                "group_control_number": row["group_control_number"],
                "claims_accepted": accepted,
                "claims_rejected": rejected,
            }
        )
    claims = sum(n for *_, n in summary)
    return month, pa.Table.from_pylist(records, es.RESPONSES_SCHEMA), history, claims


def _out_of_order(paths: DataPaths, plan: str, month: str, history: str, con) -> list[str]:
    """Claims this response answers that a *newer* ingested response already answered."""
    path = lake.partition_file(paths.lake, es.STATUS_HISTORY, plan, month)
    if not path.is_file():
        return []
    rows = con.execute(
        f"""SELECT count(DISTINCT (i.claim_id, i.frequency_code)), max(o.response_file)
        FROM ({history}) i JOIN read_parquet({sql_str(str(path))}) o
          USING (interchange_control_number, claim_id, frequency_code)
        WHERE o.response_date > i.response_date AND o.response_sha256 <> i.response_sha256"""
    ).fetchall()
    count, newer = rows[0]
    if not count:
        return []
    return [
        f"out of order: {count} claim(s) already have a newer response ({newer}); this one is "
        "kept in the history and their current status is unchanged"
    ]


def _move(path: Path, folder: Path) -> Path:
    """Move the file into `folder` (same file system: a rename), never over another file."""
    filemodes.ensure_dir(folder)
    target = folder / path.name
    if target.exists():
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%f")
        target = folder / f"{path.stem}.{stamp}{path.suffix}"
    os.replace(path, target)
    return target


def _refuse(path: Path, plan: str, message: str) -> FileOutcome:
    """Keep the file aside in rejected/ with a reason file beside it (written atomically)."""
    target = _move(path, landing_folder_of(path) / REJECTED)
    reason = target.with_name(target.name + ".reason.txt")
    lake.write_text_atomic(reason, f"{path.name}: {message}\n")
    return FileOutcome(path.name, REFUSED, f"{path.name}: {message}", plan=plan)


def landing_folder_of(path: Path) -> Path:
    return path.parent


def ingest_file(
    paths: DataPaths,
    registry: PlansRegistry,
    plan: str,
    path: Path,
    con: duckdb.DuckDBPyConnection,
    *,
    now: datetime | None = None,
) -> FileOutcome:
    """Ingest one response file of the plan's folder, or keep it aside with the reason."""
    ingested_at = (now or datetime.now(UTC)).replace(tzinfo=None, microsecond=0)
    try:
        sha = _sha256(path)
        with ledger.ledger_lock(paths.lake, plan):
            seen = es.ingested(paths.lake, plan)
            if sha in seen:
                raise ResponseError(
                    f"the same response was already ingested as {seen[sha]}: a repeat, "
                    "nothing changed"
                )
            guide = guide_of(path)
            parsed: Ack999 | Ack277
            if guide == GUIDE_999:
                parsed, kind = parse_999(path), "999"
            elif guide == GUIDE_277CA:
                parsed, kind = parse_277ca(path), "277CA"
            else:
                raise ResponseError(
                    f"is a {guide or 'unknown'} group, not a 999 ({GUIDE_999}) or 277CA "
                    f"({GUIDE_277CA})"
                )
            _check_plan(parsed.envelope, plan, registry)
            if parsed.envelope.date is None:
                raise ResponseError("has no date (GS04)")
            base = {
                "plan_code": plan,
                "response_file": path.name,
                "response_sha256": sha,
                "response_interchange_control_number": parsed.envelope.isa13,
                "response_date": parsed.envelope.date,
                "ingested_at": ingested_at,
                "simulated": parsed.envelope.simulated,
            }
            subs = _submissions(paths, plan)
            notes: list[str] = []
            if isinstance(parsed, Ack999):
                month, responses = _rows_999(parsed, subs, base)
                claims = 0
            else:
                month, responses, history, claims = _rows_277(parsed, subs, base, paths, con)
                notes = _out_of_order(paths, plan, month, history, con)
                es.append_partition_sql(
                    con, paths.lake, es.STATUS_HISTORY, plan, month, history, sha
                )
            # submission_responses last: a response is ingested once its row is there.
            es.append_partition(paths.lake, es.SUBMISSION_RESPONSES, plan, month, responses, sha)
            _move(path, landing(paths, plan) / PROCESSED)
    except (ResponseError, X12ReadError) as exc:
        return _refuse(path, plan, str(exc))
    finally:
        if "answered" in {name for (name,) in con.execute("SHOW TABLES").fetchall()}:
            con.unregister("answered")
    detail = f"{claims} claims" if kind == "277CA" else f"{responses.num_rows} transaction set(s)"
    message = f"{path.name}: {kind} for {plan} {month} ingested ({detail})"
    if notes:
        message += "; " + "; ".join(notes)
    return FileOutcome(path.name, INGESTED, message, kind, plan, month, claims, tuple(notes))


def ingest_plan(
    paths: DataPaths, registry: PlansRegistry, plan: str, *, now: datetime | None = None
) -> list[FileOutcome]:
    """Every file waiting in the plan's folder, oldest name first; bad ones are kept aside and
    the rest still ingested."""
    outcomes = []
    # Bounded memory: a 277CA of a million claims joins a million ledger rows; DuckDB spills
    # past the limit into the work folder (the benchmark: docs/benchmark.md).
    spill = paths.work / "responses_spill"
    filemodes.ensure_dir(spill)
    con = duckdb.connect(
        config={
            "threads": 2,
            "memory_limit": "300MB",
            "temp_directory": str(spill),
        }
    )
    con.execute("SET preserve_insertion_order = false")
    con.execute("SET enable_progress_bar = false")
    try:
        for path in pending(paths, plan):
            outcomes.append(ingest_file(paths, registry, plan, path, con, now=now))
    finally:
        con.close()
    return outcomes


def answered_month(paths: DataPaths, plan: str, path: Path) -> str | None:
    """The extract month a waiting file answers, read from its first segments (for the sensor's
    partition key); None when it cannot tell (the run then keeps the file aside)."""
    from calaim_pipeline.responses.x12 import read_segments, value

    subs = _submissions(paths, plan)
    try:
        for sid, seg in read_segments(path):
            if sid == "AK1":
                gs06 = value(seg, "AK102")
                return next(
                    (r["extract_month"] for r in subs if r["group_control_number"] == gs06), None
                )
            if sid == "TRN" and value(seg, "TRN01") == "2":
                isa13 = value(seg, "TRN02")[:9]
                return next(
                    (r["extract_month"] for r in subs if r["interchange_control_number"] == isa13),
                    None,
                )
    except X12ReadError:
        return None
    return None
