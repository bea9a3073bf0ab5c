"""Exact physical line numbers for the records DuckDB read from a CSV (or CSV.gz) file.

DuckDB hands back accepted records in file order but without their line, and numbers a rejected
record by counting records, not lines. A record's physical line (header = line 1) is its position
plus 2 only while every record takes one line: a quoted field holding a line break, an unterminated
quote swallowing lines, or a blank line (DuckDB skips it) shifts every later record.

So a file is numbered in two steps (docs/decisions.md, "Line numbers" and "Line-number cost"):
1. The fast check, always: count the file's physical lines (a C-speed byte count). When
   lines = 1 + accepted + rejected records, every record took exactly one line and the positions
   with the rejected lines between them give the exact numbers, as before.
2. Otherwise a scan of the raw lines finds where each record starts. Rejected records are
   anchored by DuckDB's byte position of their start (exact, also in gzip files); their extent
   follows DuckDB's own recovery (an error after a closing quote skips to the end of that line);
   accepted records are split with Python's C csv parser, which agrees with DuckDB on every
   record DuckDB accepted. The scan must find exactly DuckDB's records, else the file fails
   rather than carry wrong line numbers.

The result is a short list of breaks: (first accepted record, shift) where, from that record on,
line = record position + 2 + shift. A clean file has no breaks; one with a few broken rows has one
break per anomaly.
"""

from __future__ import annotations

import csv
import gzip
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

CHUNK = 1 << 23  # bytes per read while counting lines
CSV_LINE_LIMIT = 10_000  # DuckDB's rejects table cuts csv_line at this many characters


class LineNumberingError(ValueError):
    """The scan could not match DuckDB's records: line numbers would be wrong (file, line)."""


@dataclass(frozen=True)
class DuckReject:
    """A rejected record as DuckDB reports it: its record count line, byte position and text."""

    line: int  # DuckDB's `line`: counts records and blank lines, not physical lines
    byte_position: int  # DuckDB's line_byte_position: a byte inside the record's first line
    csv_line: str
    error: str


@dataclass
class Numbering:
    """Where a file's records sit: breaks for accepted records, exact lines for rejected ones."""

    breaks: list[tuple[int, int]] = field(default_factory=list)  # (first record, shift)
    unparseable: list[dict] = field(default_factory=list)  # {line, raw_text, error}
    scanned: bool = False  # True when the slow scan was needed


def _open(path: Path) -> IO[bytes]:
    return gzip.open(path, "rb") if path.name.endswith(".gz") else open(path, "rb")


def count_lines(path: Path) -> tuple[int, bool]:
    """(physical lines, whether the file ends with an empty line). A last line without a line
    end counts; the empty "line" after a final line end does not."""
    newlines = 0
    tail = b""
    with _open(path) as handle:
        while chunk := handle.read(CHUNK):
            newlines += chunk.count(b"\n")
            tail = (tail + chunk)[-3:]
    if not tail:
        return 0, False
    lines = newlines + (0 if tail.endswith(b"\n") else 1)
    blank_end = tail.endswith(b"\n\n") or tail.endswith(b"\n\r\n")
    return lines, blank_end


def _single_line(reject: DuckReject) -> bool:
    text = reject.csv_line.lstrip("\r\n")  # DuckDB prefixes the previous line end on CRLF files
    return "\n" not in text.rstrip("\r\n") and len(reject.csv_line) < CSV_LINE_LIMIT


def _fast(records: int, rejects: list[DuckReject]) -> Numbering:
    """Every record is one line: DuckDB's record count line is the physical line."""
    numbering = Numbering()
    for i, reject in enumerate(sorted(rejects, key=lambda r: r.line)):
        numbering.breaks.append((reject.line - 2 - i, i + 1))
        numbering.unparseable.append(
            {"line": reject.line, "raw_text": reject.csv_line.strip("\r\n"), "error": reject.error}
        )
    return numbering


def number_records(
    path: Path, records: int, rejects: list[DuckReject], delimiter: str = ",", quote: str = '"'
) -> Numbering:
    """Breaks and exact reject lines for a CSV file DuckDB read into `records` accepted records."""
    lines, blank_end = count_lines(path)
    if (
        not blank_end
        and lines == 1 + records + len(rejects)
        and all(_single_line(r) for r in rejects)
    ):
        return _fast(records, rejects)
    return _Scanner(path, records, rejects, delimiter, quote).scan()


def values_by_line(raw_text: str, position: int | None, delimiter: str = ",") -> list[str | None]:
    """The value at a column position in each physical line of an unparseable record's raw text.

    Best effort, for keys (claim id, CIN, NPI): an unterminated quote swallows whole rows, whose
    values still sit where the header says, one row per line. Callers check the shape of what
    they get, because a continuation line of a quoted field is no row at all."""
    values: list[str | None] = []
    for line in raw_text.split("\n"):
        try:
            fields = next(csv.reader([line.rstrip("\r")], delimiter=delimiter), [])
        except csv.Error:
            fields = []
        value = fields[position].strip() if position is not None and position < len(fields) else ""
        values.append(value or None)
    return values


class _RejectState:
    """DuckDB's quoting state across the lines of one rejected record."""

    def __init__(self, delimiter: str = ",", quote: str = '"') -> None:
        self.delimiter, self.quote = delimiter, quote
        self.in_quotes = False
        self.after_quote = False
        self.field_start = True

    def feed(self, text: str) -> bool:
        """Consume one physical line; True when the record ends with it."""
        for char in text:
            if self.in_quotes:
                if char == self.quote:
                    self.in_quotes, self.after_quote = False, True
                continue
            if self.after_quote:
                self.after_quote = False
                if char == self.quote:  # "" inside a quoted field
                    self.in_quotes = True
                    continue
                if char == self.delimiter:
                    self.field_start = True
                    continue
                if char in "\r\n":
                    return True
                return True  # DuckDB: unquoted value after a quote -> skip to the line end
            if char == "\n":
                return True
            if self.field_start and char == self.quote:
                self.in_quotes, self.field_start = True, False
                continue
            self.field_start = char == self.delimiter
        return False  # the line ended inside quotes (or the file ended without a line end)


class _Scanner:
    """The slow path: walk the raw lines once and place every record (see the module doc)."""

    def __init__(
        self,
        path: Path,
        records: int,
        rejects: list[DuckReject],
        delimiter: str = ",",
        quote: str = '"',
    ) -> None:
        self.path = path
        self.delimiter, self.quote = delimiter, quote
        self.records = records
        self.rejects = sorted(rejects, key=lambda r: r.byte_position)
        self.next_reject = 0
        self.reject_at: dict[int, DuckReject] = {}  # physical line -> reject starting there
        self.line_no = 0
        self.offset = 0
        self.numbering = Numbering(scanned=True)

    def _lines(self, handle: IO[bytes]) -> Iterator[tuple[int, bytes]]:
        """(line number, raw bytes with line end); notes which lines rejected records start on."""
        for raw in handle:
            self.line_no += 1
            end = self.offset + len(raw)
            while (
                self.next_reject < len(self.rejects)
                and self.rejects[self.next_reject].byte_position < end
            ):
                self.reject_at.setdefault(self.line_no, self.rejects[self.next_reject])
                self.next_reject += 1
            self.offset = end
            yield self.line_no, raw

    def _fail(self, line: int, what: str) -> LineNumberingError:
        return LineNumberingError(
            f"{self.path.name}: line {line}: {what}; physical line numbers after it cannot be "
            "determined"
        )

    def scan(self) -> Numbering:
        csv.field_size_limit(max(csv.field_size_limit(), 1 << 24))
        good = 0
        shift = 0
        with _open(self.path) as handle:
            lines = self._lines(handle)
            next(lines, None)  # the header
            for line_no, raw in lines:
                reject = self.reject_at.get(line_no)
                if reject is not None:
                    self._take_reject(line_no, raw, reject, lines)
                    continue
                if not raw.strip(b"\r\n"):
                    continue  # a blank line: DuckDB skips it, it is no record
                if self.quote.encode() in raw:
                    self._take_quoted(line_no, raw, lines)
                if good >= self.records:
                    raise self._fail(line_no, "more records than the reader accepted")
                line_shift = line_no - 2 - good
                if line_shift != shift:
                    self.numbering.breaks.append((good, line_shift))
                    shift = line_shift
                good += 1
        if good != self.records or len(self.numbering.unparseable) != len(self.rejects):
            raise self._fail(
                self.line_no, f"found {good} records where the reader accepted {self.records}"
            )
        return self.numbering

    def _take_quoted(self, line_no: int, raw: bytes, lines: Iterator[tuple[int, bytes]]) -> None:
        """An accepted record with quotes: let the csv parser consume the lines it spans."""
        taken = [line_no]

        def feed() -> Iterator[str]:
            yield raw.decode("latin-1")
            for number, more in lines:
                taken.append(number)
                yield more.decode("latin-1")

        try:
            next(csv.reader(feed(), delimiter=self.delimiter, quotechar=self.quote), None)
        except csv.Error as exc:
            raise self._fail(line_no, f"not parseable as CSV ({exc})") from None
        inner = [n for n in taken[1:] if n in self.reject_at]
        if inner:
            raise self._fail(inner[0], "a rejected record starts inside an accepted one")

    def _take_reject(
        self,
        line_no: int,
        raw: bytes,
        reject: DuckReject,
        lines: Iterator[tuple[int, bytes]],
    ) -> None:
        """A rejected record: follow DuckDB's quoting to its last line; keep its raw text."""
        state = _RejectState(self.delimiter, self.quote)
        parts = [raw]
        ended = state.feed(raw.decode("latin-1"))
        while not ended:
            nxt = next(lines, None)
            if nxt is None:
                break
            number, more = nxt
            if number in self.reject_at:
                raise self._fail(number, "a rejected record starts inside another")
            parts.append(more)
            ended = state.feed(more.decode("latin-1"))
        text = b"".join(parts).rstrip(b"\r\n").decode("utf-8", errors="replace")
        self.numbering.unparseable.append(
            {"line": line_no, "raw_text": text, "error": reject.error}
        )
