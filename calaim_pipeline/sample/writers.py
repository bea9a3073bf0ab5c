"""Streaming encounter writers (CSV, gzip CSV, Parquet) that report physical line numbers.

CSV is written in binary with "\n" line ends and no embedded newlines, so the Nth row written is
physical line N + 1 (the header is line 1); that is the number the truth file and the pipeline's
rejects use. Surrogate-escaped characters ("\\udcff") become raw undecodable bytes on purpose: that is
how the ROW_UNPARSEABLE defect plants an invalid UTF-8 byte.
"""

from __future__ import annotations

import gzip
from pathlib import Path
from typing import BinaryIO, Protocol

_FLUSH_LINES = 8192
_ROW_GROUP_ROWS = 131_072


def csv_field(value: str) -> str:
    """RFC 4180 minimal quoting."""
    if "," in value or '"' in value or "\n" in value or "\r" in value:
        return '"' + value.replace('"', '""') + '"'
    return value


def clean_claim_text(header: list[str], lines: list[list[str]], ptr_index: int) -> str:
    """CSV text of a clean claim's rows, joined by newlines (no trailing newline).

    Only the diagnosis pointer field of a clean claim can contain a comma, so nothing else needs
    quoting. Shared by the writer and the parallel workers so both produce identical bytes.
    """
    prefix = ",".join(header) + ","
    out = []
    for line in lines:
        ptr = line[ptr_index]
        if "," in ptr:
            line = line.copy()
            line[ptr_index] = '"' + ptr + '"'
        out.append(prefix + ",".join(line))
    return "\n".join(out)


class EncounterSink(Protocol):
    """Where a month's encounter rows go."""

    name: str
    rows_written: int

    def write_text(self, text: str, n_rows: int) -> int: ...

    def write_rows(self, rows: list[list[str]]) -> int: ...

    def close(self) -> None: ...


class CsvSink:
    """CSV or gzip CSV; returns the physical line number of each claim's first row."""

    def __init__(self, path: Path, columns: tuple[str, ...], gz: bool) -> None:
        self.name = path.name
        self.rows_written = 0
        self._raw: BinaryIO = path.open("wb")
        self._fh: BinaryIO
        if gz:
            # filename="" and mtime=0 keep the gzip header byte-identical from run to run
            self._fh = gzip.GzipFile(
                filename="", mode="wb", fileobj=self._raw, compresslevel=6, mtime=0
            )
        else:
            self._fh = self._raw
        self._buf: list[str] = []
        self._buffered = 0
        self._flush_lines = _FLUSH_LINES
        self._fh.write((",".join(columns) + "\n").encode("utf-8"))

    def write_text(self, text: str, n_rows: int) -> int:
        """Rows already formatted as CSV text (see clean_claim_text); returns the first row's
        physical line number."""
        first = self.rows_written + 2
        self._buf.append(text)
        self.rows_written += n_rows
        self._buffered += n_rows
        if self._buffered >= self._flush_lines:
            self._flush()
        return first

    def write_rows(self, rows: list[list[str]]) -> int:
        """Any rows (quoted field by field); returns the first row's physical line number."""
        if not rows:
            return self.rows_written + 2
        return self.write_text(
            "\n".join(",".join([csv_field(v) for v in row]) for row in rows), len(rows)
        )

    def _take(self) -> bytes:
        """The buffered lines as UTF-8 (lone surrogates become the raw bytes they stand for)."""
        self._buf.append("")
        data = "\n".join(self._buf).encode("utf-8", "surrogateescape")
        self._buf = []
        self._buffered = 0
        return data

    def _flush(self) -> None:
        if self._buf:
            self._fh.write(self._take())

    def close(self) -> None:
        """Flush and close (the gzip trailer, then the file)."""
        self._flush()
        if self._fh is not self._raw:
            self._fh.close()
        self._raw.close()


class ParquetSink(CsvSink):
    """Parquet with every column a string, row numbers as if it were a CSV with a header.

    Rows are formatted exactly as for CSV and each buffered block is parsed by Arrow's CSV reader
    (C++) into string columns: far cheaper than building Arrow arrays from Python lists.
    """

    def __init__(self, path: Path, columns: tuple[str, ...]) -> None:
        import pyarrow as pa
        import pyarrow.csv as pacsv
        import pyarrow.parquet as pq

        self.name = path.name
        self.rows_written = 0
        self._buf = []
        self._buffered = 0
        self._flush_lines = _ROW_GROUP_ROWS  # each flush is one Parquet row group
        self._pa, self._pacsv = pa, pacsv
        self._schema = pa.schema([(c, pa.string()) for c in columns])
        self._read = pacsv.ReadOptions(column_names=list(columns), block_size=1 << 26)
        self._convert = pacsv.ConvertOptions(
            column_types=dict.fromkeys(columns, pa.string()), strings_can_be_null=False
        )
        self._parse = pacsv.ParseOptions(newlines_in_values=False)
        self._writer = pq.ParquetWriter(str(path), self._schema, compression="zstd")

    def _flush(self) -> None:
        if not self._buf:
            return
        import io

        table = self._pacsv.read_csv(
            io.BytesIO(self._take()),
            read_options=self._read,
            parse_options=self._parse,
            convert_options=self._convert,
        )
        self._writer.write_table(table.cast(self._schema))

    def close(self) -> None:
        """Write the last row group and the footer."""
        self._flush()
        if self.rows_written == 0:
            self._writer.write_table(self._schema.empty_table())
        self._writer.close()


def open_sink(path: Path, columns: tuple[str, ...], file_format: str) -> EncounterSink:
    """A sink for one encounter file."""
    if file_format == "parquet":
        return ParquetSink(path, columns)
    return CsvSink(path, columns, gz=file_format == "csv.gz")
