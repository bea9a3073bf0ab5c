"""Sample files in a plan's own shape: the contract-shaped month rewritten through its profile's
inverse.

Why: the bundled sample must go through an ingest profile end to end (`make run` reads HPSM
through `hpsm_pipe`, config/profiles.yaml) with the same defects and the same truth file as the
contract shape. So the generator writes every plan in the contract's shape as always, and for a
plan whose configured profile says otherwise, `reshape_month` rewrites that month's files through
the profile inverted, record for record: line numbers (the truth file's) do not move.

The inverse is computed from the profile itself, so the two cannot drift: renamed columns get the
plan's names, value-mapped codes the plan's codes, dates the profile's first format, amounts its
currency symbol and separators, packed targets are joined into their one column, and the file is
written in the profile's delimiter, quote and encoding. A column the profile does not name (a
contract column added later, or one it reads by the same name) passes through under its own name.

A defect must survive the trip, so what the contract rejects is written so the profile cannot
convert it either: a contract date that is not ISO (`09/01/2026`, which MM/DD/YYYY would read) and
an amount the separators would make valid get a trailing `*`; an ISO-shaped impossible date
(`2026-02-30`) is rearranged by position, as the profile rearranges it back; a code no map value
stands for is written as is (the profile marks it unmapped); an undecodable byte becomes one the
target encoding does not define either. What cannot be inverted (constants, patterns, defaults, a
contract value the plan's map would translate) fails loudly instead of changing a verdict.
"""

from __future__ import annotations

import csv
import gzip
import os
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from calaim_pipeline.ingest.profiles import DATE_FORMATS, TABLES, ActiveProfile, profile_for_plan
from calaim_pipeline.validation.sql import AMOUNT_SHAPE

UNREADABLE = "*"  # appended to a value the contract rejects that the profile would convert
ISO_DATE = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})")
AMOUNT = re.compile(AMOUNT_SHAPE)
# A byte each encoding leaves undefined, so a row holding it stays unparseable as in UTF-8.
UNDEFINED_BYTE = {"cp1252": "\udc81", "utf-8": None}
SURROGATE = re.compile("[\udc80-\udcff]")
# Free text the sample's plan adds to its encounter lines (the profile ignores it: an extra
# column in the run's metadata). The en dash is a Windows-1252 character, not a Latin-1 one.
STATUS_COLUMN = "CLM_STATUS_DESC"
STATUS_TEXT = {"1": "Paid", "7": "Adjusted – replaces original", "8": "Voided – reversal"}
ZERO_PAID = "Paid – nothing due on this line"
FILES = (("encounters", "encounters*"), ("members", "members.csv"), ("providers", "providers.csv"))


class ProfileNotInvertible(ValueError):
    """The sample cannot be written in this profile's shape without changing a verdict."""


def configured_shapes(plans: Iterable[str]) -> dict[str, ActiveProfile]:
    """The plans whose configured profile (profiles.yaml) the sample must be written through,
    each checked to be invertible now rather than after a month is written."""
    shapes = {}
    for plan in plans:
        active = profile_for_plan(plan)
        if active is not None:
            for table in TABLES:
                _Inverse(active, table)
            shapes[plan] = active
    return shapes


@dataclass(frozen=True)
class _Pack:
    column: str
    separator: str
    into: tuple[str, ...]
    join: str | None


class _Inverse:
    """One file kind's contract columns -> the plan's columns and values (see the module doc)."""

    def __init__(self, active: ActiveProfile, table: str) -> None:
        part = active.table(table)
        where = f"profile {active.name!r} ({table})"
        if part.constants:
            raise ProfileNotInvertible(f"{where}: constants drop the contract's own values")
        self.renamed: dict[str, str] = {}
        for column in part.columns:
            source = part.source(column)
            assert source is not None
            if source.pattern is not None or source.default is not None:
                raise ProfileNotInvertible(f"{where}: columns.{column} has a pattern or default")
            self.renamed[column] = source.column
        self.packs = [_Pack(p.column, p.separator, tuple(p.into), p.join) for p in part.packed]
        self.pack_of = {target: pack for pack in self.packs for target in pack.into}
        self.maps = {
            column: ({code: plan for plan, code in reversed(m.values.items())}, set(m.values))
            for column, m in part.value_maps.items()
        }
        self.date_format = DATE_FORMATS[part.date_formats[0]] if part.date_formats else None
        _, self.dates, amounts = TABLES[table]
        self.amounts = part.amounts
        self.amount_columns = amounts if part.amounts is not None else ()
        dialect = part.dialect or active.profile.dialect
        self.delimiter, self.quote, self.encoding = (
            dialect.delimiter,
            dialect.quote,
            dialect.encoding,
        )
        if self.encoding not in UNDEFINED_BYTE:
            raise ProfileNotInvertible(f"{where}: {self.encoding} cannot hold an unreadable row")

    def header(self, names: list[str]) -> list[str | _Pack]:
        """The plan's columns in the contract file's order; a pack where its first target was."""
        out: list[str | _Pack] = []
        for name in names:
            pack = self.pack_of.get(name)
            if pack is None:
                out.append(name)
            elif pack not in out:
                out.append(pack)
        out += [pack for pack in self.packs if pack not in out]
        return out

    def value(self, column: str, value: str) -> str:
        if not value.strip():
            return value
        if column in self.amount_columns:
            value = self._amount(value)
        if column in self.dates and self.date_format is not None:
            value = self._date(value)
        if column in self.maps:
            inverse, plan_codes = self.maps[column]
            if value in inverse:
                return inverse[value]
            if value.strip() in plan_codes:
                raise ProfileNotInvertible(f"{column}: the contract's {value!r} is a plan code")
        return value

    def _date(self, value: str) -> str:
        iso = ISO_DATE.fullmatch(value)
        if iso is None:
            return value + UNREADABLE
        year, month, day = iso.groups()
        assert self.date_format is not None
        return self.date_format.replace("%Y", year).replace("%m", month).replace("%d", day)

    def _amount(self, value: str) -> str:
        amounts = self.amounts
        assert amounts is not None
        symbol, thousands = amounts.currency_symbol or "", amounts.thousands_separator or ""
        if AMOUNT.fullmatch(value):
            whole, dot, cents = value.partition(".")
            groups = [whole[max(0, end - 3) : end] for end in range(len(whole), 0, -3)]
            decimals = amounts.decimal_separator + cents if dot else ""
            return symbol + thousands.join(reversed(groups)) + decimals
        written = symbol + value
        read = written.replace(symbol, "") if symbol else written  # what the profile reads
        read = read.replace(thousands, "") if thousands else read
        read = read.replace(amounts.decimal_separator, ".").strip()
        return written + UNREADABLE if AMOUNT.fullmatch(read) else written

    def pack(self, pack: _Pack, row: dict[str, str]) -> str:
        parts = [row.get(target, "") for target in pack.into]
        if any(pack.separator in part for part in parts):
            raise ProfileNotInvertible(f"{pack.column}: a value holds the separator")
        if pack.join is not None:
            return parts[0].replace(pack.join, pack.separator)
        return pack.separator.join(parts).rstrip(pack.separator)

    def row(self, layout: list[str | _Pack], names: list[str], fields: list[str]) -> list[str]:
        values = {name: self.value(name, field) for name, field in zip(names, fields, strict=True)}
        return [
            values[item] if isinstance(item, str) else self.pack(item, values) for item in layout
        ]

    def plan_names(self, layout: list[str | _Pack]) -> list[str]:
        return [
            self.renamed.get(item, item) if isinstance(item, str) else item.column
            for item in layout
        ]

    def line(self, fields: list[str]) -> str:
        quote, delimiter = self.quote, self.delimiter
        return delimiter.join(
            quote + f.replace(quote, quote * 2) + quote
            if delimiter in f or quote in f or "\n" in f or "\r" in f
            else f
            for f in fields
        )


def _status(names: list[str], fields: list[str]) -> str:
    """The line's status as the claims system describes it (from the contract's values)."""
    row = dict(zip(names, fields, strict=False))
    text = STATUS_TEXT.get(row.get("frequency_code", ""), "Pended – see adjuster")
    return ZERO_PAID if text == "Paid" and row.get("paid_amount") == "0.00" else text


def _lines(path: Path) -> Iterator[bytes]:
    opener = gzip.open if path.name.endswith(".gz") else open
    with opener(path, "rb") as handle:
        yield from handle


def _reshape_csv(path: Path, inverse: _Inverse, with_status: bool) -> None:
    """The contract-shaped CSV at `path` rewritten in place, one record per line as written."""
    lines = _lines(path)
    names = next(csv.reader([next(lines).decode("utf-8-sig").rstrip("\r\n")]))
    layout = inverse.header(names)
    plan_header = inverse.plan_names(layout) + ([STATUS_COLUMN] if with_status else [])
    bad = UNDEFINED_BYTE[inverse.encoding]
    target = path.with_name(path.name + ".reshaping")
    gz = path.name.endswith(".gz")
    with open(target, "wb") as raw:
        out = gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) if gz else raw
        out.write((inverse.line(plan_header) + "\n").encode(inverse.encoding))
        for record in lines:
            text = record.decode("utf-8", "surrogateescape").rstrip("\r\n")
            fields = next(csv.reader([text]))
            if len(fields) >= len(names):
                extra = fields[len(names) :]
                status = [_status(names, fields)] if with_status else []
                fields = inverse.row(layout, names, fields[: len(names)]) + status
                fields += extra  # a row with too many fields stays one
            elif len(fields) == len(plan_header):
                raise ProfileNotInvertible(f"{path.name}: a short row would become a full one")
            line = inverse.line(fields)
            if bad is not None and SURROGATE.search(line):
                line = SURROGATE.sub(bad, line)
            out.write((line + "\n").encode(inverse.encoding, "surrogateescape"))
        if out is not raw:
            out.close()
    os.replace(target, path)


def _reshape_parquet(path: Path, inverse: _Inverse) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pq.read_table(path)
    names = table.column_names
    layout = inverse.header(names)
    columns = [*inverse.plan_names(layout), STATUS_COLUMN]
    rows = []
    for record in table.to_pylist():
        fields = [record[name] or "" for name in names]
        converted = inverse.row(layout, names, fields)
        rows.append([*converted, _status(names, fields)])
    data = {name: [row[i] for row in rows] for i, name in enumerate(columns)}
    schema = pa.schema([(name, pa.string()) for name in columns])
    pq.write_table(pa.table(data, schema=schema), path, compression="zstd")


def reshape_month(folder: Path, active: ActiveProfile) -> None:
    """Every file of a contract-shaped month folder rewritten in place in `active`'s shape."""
    for table, pattern in FILES:
        inverse = _Inverse(active, table)
        for path in sorted(folder.glob(pattern)):
            if path.name.endswith(".parquet"):
                _reshape_parquet(path, inverse)
            else:
                _reshape_csv(path, inverse, with_status=table == "encounters")
