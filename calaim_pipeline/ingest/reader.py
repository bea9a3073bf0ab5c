"""Reading one extract file into staged Parquet: every record kept, unparseable ones with their line.

DuckDB does the reading (stack-notes.md: its CSV->Parquet copy is the floor we measure against).
Each file is copied in file order to its own Parquet file; the row order there gives every record
its position, DuckDB's reject table gives each unparseable record's raw text, and `ingest.lines`
turns positions into exact physical lines (breaks where a record took more than one line).
"""

from __future__ import annotations

import csv
import gzip
import io
import re
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from calaim_pipeline.ingest.contract import ENCOUNTER_COLUMNS, ICD10_COLUMNS
from calaim_pipeline.ingest.lines import DuckReject, LineNumberingError, number_records
from calaim_pipeline.ingest.profile_sql import (
    ProfileColumnError,
    Reading,
    is_ascii,
    map_columns,
    utf8_copy,
)
from calaim_pipeline.sqltext import sql_ident, sql_str


class ExtractFileError(ValueError):
    """A file cannot be read at all: the partition fails with this message (file, line, column)."""


@dataclass
class StagedFile:
    """One input file after staging: its records as clean contract columns, in file order.

    The staged Parquet has exactly `columns` (trimmed text, empty -> NULL, the contract's
    normalisations), so later passes read plain columns instead of re-cleaning every time.
    """

    index: int
    path: Path
    staged_path: Path
    kind: str  # "csv" or "parquet"
    columns: tuple[str, ...]
    extra_columns: list[str]
    claim_id_position: int | None = None  # where claim_id sits in a raw CSV record
    records: int = 0
    unparseable: list[dict] = field(default_factory=list)  # {line, raw_text, error}
    # From record `first` on, physical line = record + 2 + shift (ingest.lines); empty = no shift.
    breaks: list[tuple[int, int]] = field(default_factory=list)
    header_positions: dict[str, int] = field(default_factory=dict)  # column -> raw position
    delimiter: str = ","  # the file's field separator (its ingest profile's, else a comma)


def clean_column_sql(name: str, source: str | None) -> str:
    """A raw column as contract text: trimmed, empty -> NULL, with the contract's normalisations."""
    if source is None:
        return f"CAST(NULL AS VARCHAR) AS {name}"
    return clean_text_sql(name, f"NULLIF(TRIM(CAST({sql_ident(source)} AS VARCHAR)), '')")


def clean_text_sql(name: str, text: str | None) -> str:
    """Contract text SQL (trimmed, empty -> NULL) with the contract's normalisations, as `name`."""
    if text is None:
        return f"CAST(NULL AS VARCHAR) AS {name}"
    if name in ICD10_COLUMNS:
        text = f"NULLIF(upper(replace({text}, '.', '')), '')"
    elif name == "revenue_code":
        text = f"(CASE WHEN regexp_full_match({text}, '[0-9]{{3}}') THEN '0' || {text} ELSE {text} END)"
    return f"{text} AS {name}"


def _describe_csv_error(exc: duckdb.Error) -> str:
    """DuckDB's message quotes the offending line (member data): keep only where and what kind."""
    text = str(exc)
    line = re.search(r"[Ll]ine:? (\d+)", text)
    kind = text.split(":", 2)[1].strip() if text.count(":") >= 2 else type(exc).__name__
    where = f"line {line.group(1)}: " if line else ""
    first_sentence = kind.split("\n")[0][:120]
    return f"{where}cannot be parsed as CSV ({first_sentence})"


def normalise_header(names: list[str], path: Path) -> dict[str, int]:
    """Header name -> position, matched case-insensitively after trimming; repeats are an error."""
    positions: dict[str, int] = {}
    for position, name in enumerate(names):
        key = name.strip().lower()
        if key in positions:
            raise ExtractFileError(
                f"{path.name}: line 1: column {key!r} appears twice in the header"
            )
        positions[key] = position
    return positions


def read_csv_header(path: Path, delimiter: str = ",", quote: str = '"') -> list[str]:
    """The header row of a CSV or CSV.gz file, byte-order mark removed."""
    opener = gzip.open if path.name.endswith(".gz") else open
    try:
        with opener(path, "rb") as handle:
            first = handle.readline()
    except (OSError, EOFError) as exc:
        raise ExtractFileError(f"{path.name}: cannot be read: {exc}") from exc
    if not first.strip():
        raise ExtractFileError(f"{path.name}: line 1: the file is empty (no header row)")
    try:
        text = first.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ExtractFileError(f"{path.name}: line 1: header is not UTF-8 ({exc.reason})") from exc
    return next(csv.reader(io.StringIO(text), delimiter=delimiter, quotechar=quote))


def check_required(path: Path, present: set[str], required: tuple[str, ...]) -> None:
    missing = [name for name in required if name not in present]
    if missing:
        raise ExtractFileError(
            f"{path.name}: line 1: required column(s) missing from the header: {', '.join(missing)}"
        )


def _clean_select(header: _Header, columns: tuple[str, ...]) -> str:
    if header.profiled:
        return ", ".join(
            f"{header.sources[name]} AS {name}"
            if name in header.normalised
            else clean_text_sql(name, header.sources.get(name))
            for name in columns
        )
    return ", ".join(clean_column_sql(name, header.sources.get(name)) for name in columns)


@dataclass(frozen=True)
class _Header:
    positions: dict[str, int]  # normalised name -> position
    sources: dict[str, str]  # contract column -> column name in the file as read
    extra_columns: list[str]  # names the contract does not know (ignored, reported)
    profiled: bool = False  # sources hold SQL text from the plan's profile
    helpers: dict[str, str] = field(default_factory=dict)  # per-row helper columns (profile)
    parts: dict[str, str] = field(default_factory=dict)  # packed fields' parts, over `helpers`
    normalised: frozenset[str] = frozenset()  # sources already in the contract's normal form

    def relation(self, raw: str) -> str:
        """The raw relation with the profile's helper columns (packed parts), if any."""
        for level in (self.helpers, self.parts):
            if level:
                extra = ", ".join(f"{sql} AS {name}" for name, sql in level.items())
                raw = f"(SELECT *, {extra} FROM {raw})"
        return raw


def _map_header(
    path: Path,
    names: list[str],
    source_names: list[str],
    required: tuple[str, ...],
    known: tuple[str, ...],
    reading: Reading | None = None,
) -> _Header:
    positions = normalise_header(names, path)
    if reading is not None:
        return _map_profiled(path, names, source_names, positions, required, known, reading)
    check_required(path, set(positions), required)
    return _Header(
        positions=positions,
        sources={name: source_names[pos] for name, pos in positions.items() if name in known},
        extra_columns=[names[pos].strip() for name, pos in positions.items() if name not in known],
    )


def _map_profiled(
    path: Path,
    names: list[str],
    source_names: list[str],
    positions: dict[str, int],
    required: tuple[str, ...],
    known: tuple[str, ...],
    reading: Reading,
) -> _Header:
    """The header through the plan's profile: each contract column's SQL (`sources` then holds
    SQL text, not a column name), the required ones present, unused file columns extra."""
    present = {name: source_names[pos] for name, pos in positions.items()}
    try:
        mapping = map_columns(reading, path.name, present, known)
    except ProfileColumnError as exc:
        raise ExtractFileError(str(exc)) from None
    produced = {name for name, text in mapping.expressions.items() if text is not None}
    check_required(path, produced, required)
    # Where a contract column sits in the raw record (keys of unparseable rows are read there).
    mapped_at = {}
    for name in known:
        source = reading.part.source(name)
        if source is not None and source.column.strip().lower() in positions:
            mapped_at[name] = positions[source.column.strip().lower()]
    return _Header(
        positions=positions | mapped_at,
        sources={name: text for name, text in mapping.expressions.items() if text is not None},
        extra_columns=[
            names[pos].strip()
            for name, pos in positions.items()
            if name not in mapping.used_sources
        ],
        profiled=True,
        helpers=mapping.helpers,
        parts=mapping.parts,
        normalised=mapping.normalised,
    )


def stage_csv(
    con: duckdb.DuckDBPyConnection,
    path: Path,
    index: int,
    staged_path: Path,
    required: tuple[str, ...],
    known_columns: tuple[str, ...] = ENCOUNTER_COLUMNS,
    reading: Reading | None = None,
) -> StagedFile:
    """Copy a CSV (or .csv.gz) to clean Parquet in file order; unparseable records are kept aside.
    With a profile (`reading`), its dialect reads the file and its mapping makes the columns."""
    delimiter, quote, source_path = ",", '"', path
    if reading is not None:
        delimiter, quote = reading.dialect.delimiter, reading.dialect.quote
        if reading.dialect.encoding != "utf-8" and not is_ascii(path):
            source_path = utf8_copy(
                path, reading.dialect.encoding, staged_path.with_suffix(".utf8.csv")
            )
    header = read_csv_header(source_path, delimiter, quote)
    mapped = _map_header(
        path, header, [f"c{i}" for i in range(len(header))], required, known_columns, reading
    )
    column_spec = "{" + ", ".join(f"'c{i}': 'VARCHAR'" for i in range(len(header))) + "}"
    rejects, scans = f"rejects_{index}", f"scans_{index}"
    con.execute(f"DROP TABLE IF EXISTS {rejects}; DROP TABLE IF EXISTS {scans}")
    source = (
        f"read_csv({sql_str(str(source_path))}, header=false, skip=1, auto_detect=false, "
        f"delim={sql_str(delimiter)}, quote={sql_str(quote)}, escape={sql_str(quote)}, "
        f"strict_mode=true, columns={column_spec}, "
        f"store_rejects=true, rejects_table='{rejects}', rejects_scan='{scans}', rejects_limit=0, "
        f"max_line_size=1048576)"
    )
    try:
        con.execute(
            f"COPY (SELECT {_clean_select(mapped, known_columns)} FROM {mapped.relation(source)}) "
            f"TO {sql_str(str(staged_path))} (FORMAT parquet)"
        )
    except duckdb.Error as exc:
        raise ExtractFileError(f"{path.name}: {_describe_csv_error(exc)}") from None
    bad = con.execute(
        f"SELECT line, min(line_byte_position), first(csv_line ORDER BY column_idx), "
        f"string_agg(DISTINCT error_type, '; ') FROM {rejects} GROUP BY line ORDER BY line"
    ).fetchall()
    records = pq.ParquetFile(staged_path).metadata.num_rows
    try:
        numbering = number_records(
            source_path,
            records,
            [DuckReject(int(a), int(b), c, d) for a, b, c, d in bad],
            delimiter,
            quote,
        )
    except LineNumberingError as exc:
        raise ExtractFileError(str(exc)) from None
    finally:
        if source_path != path:  # the UTF-8 copy: numbered, so no longer needed (~1 GB at 5M)
            source_path.unlink(missing_ok=True)
    return StagedFile(
        index=index,
        path=path,
        staged_path=staged_path,
        kind="csv",
        columns=known_columns,
        extra_columns=mapped.extra_columns,
        claim_id_position=mapped.positions.get("claim_id"),
        records=records,
        unparseable=numbering.unparseable,
        breaks=numbering.breaks,
        header_positions=mapped.positions,
        delimiter=delimiter,
    )


def stage_parquet(
    con: duckdb.DuckDBPyConnection,
    path: Path,
    index: int,
    staged_path: Path,
    required: tuple[str, ...],
    known_columns: tuple[str, ...] = ENCOUNTER_COLUMNS,
    reading: Reading | None = None,
) -> StagedFile:
    """Copy a Parquet extract to clean contract columns (dates and decimals become their text)."""
    try:
        names = list(pq.ParquetFile(path).schema_arrow.names)
    except Exception as exc:  # pyarrow raises several types for a broken file
        raise ExtractFileError(f"{path.name}: not a readable Parquet file: {exc}") from exc
    mapped = _map_header(path, names, names, required, known_columns, reading)
    try:
        con.execute(
            f"COPY (SELECT {_clean_select(mapped, known_columns)} "
            f"FROM {mapped.relation(f'read_parquet({sql_str(str(path))})')}) "
            f"TO {sql_str(str(staged_path))} (FORMAT parquet)"
        )
    except duckdb.Error as exc:
        raise ExtractFileError(
            f"{path.name}: cannot be read as Parquet ({type(exc).__name__})"
        ) from None
    return StagedFile(
        index=index,
        path=path,
        staged_path=staged_path,
        kind="parquet",
        columns=known_columns,
        extra_columns=mapped.extra_columns,
        records=pq.ParquetFile(staged_path).metadata.num_rows,
    )


def stage_file(
    con: duckdb.DuckDBPyConnection,
    path: Path,
    index: int,
    work_dir: Path,
    required: tuple[str, ...],
    known_columns: tuple[str, ...] = ENCOUNTER_COLUMNS,
    reading: Reading | None = None,
) -> StagedFile:
    staged_path = work_dir / f"staged_{index}.parquet"
    if path.name.endswith(".parquet"):
        return stage_parquet(con, path, index, staged_path, required, known_columns, reading)
    return stage_csv(con, path, index, staged_path, required, known_columns, reading)


SHIFT_BUCKET = 4096  # records per bucket of the line-number lookup


def shift_buckets(staged: StagedFile) -> list[dict]:
    """Rows of the line-number lookup: per bucket of records, the shift in force at its start
    (`base`) and the breaks inside it (`firsts`, `shifts`). Empty for a file whose records each
    took one line with none unparseable, so a clean file costs no lookup at all."""
    breaks = staged.breaks
    if not breaks:
        return []
    rows = []
    position, shift = 0, 0
    last_bucket = max(staged.records, breaks[-1][0] + 1) // SHIFT_BUCKET
    for bucket in range(last_bucket + 1):
        end = (bucket + 1) * SHIFT_BUCKET
        base = shift
        firsts, shifts = [], []
        while position < len(breaks) and breaks[position][0] < end:
            firsts.append(breaks[position][0])
            shifts.append(breaks[position][1])
            shift = breaks[position][1]
            position += 1
        if firsts or base:
            rows.append(
                {
                    "file_index": staged.index,
                    "bucket": bucket,
                    "base": base,
                    "firsts": firsts,
                    "shifts": shifts,
                }
            )
    return rows


SHIFT_BUCKET_SCHEMA = pa.schema(
    [
        ("file_index", pa.int64()),
        ("bucket", pa.int64()),
        ("base", pa.int64()),
        ("firsts", pa.list_(pa.int64())),
        ("shifts", pa.list_(pa.int64())),
    ]
)


def shift_bucket_table(staged_files: list[StagedFile]) -> pa.Table:
    """The line-number lookup of several files as one table (validation.sql.source_row_sql)."""
    rows = [row for staged in staged_files for row in shift_buckets(staged)]
    return pa.Table.from_pylist(rows, schema=SHIFT_BUCKET_SCHEMA)
