"""Applying an ingest profile while staging: DuckDB SQL over the file's raw text columns.

The reader stages every file the same way (one COPY in file order, unparseable records kept with
their physical line); a profile only changes how each contract column is computed from the raw
text (`column_sql`) and, for a file that is not UTF-8, what DuckDB reads (`utf8_copy`: the same
bytes re-encoded, line for line, so line numbers and raw text stay the plan's own).

A value the profile cannot convert is kept as read (a date in none of the profile's formats) or
marked (a code its value map does not know), so the contract's own rule rejects the row with its
usual id: DATE_UNPARSEABLE, AMOUNT_INVALID, CLAIM_TYPE_INVALID, ... The message names the column,
never the value.
"""

from __future__ import annotations

import codecs
import gzip
from dataclasses import dataclass
from pathlib import Path

from calaim_pipeline.ingest.profiles import (
    DATE_FORMATS,
    PLAN_PLACEHOLDER,
    TABLES,
    UNMAPPED_MARK,
    ActiveProfile,
    Dialect,
    Source,
    TableProfile,
)
from calaim_pipeline.sqltext import sql_ident, sql_str

CHUNK = 1 << 22
# Fixed-width forms of the date formats: (shape, position of year, month, day), 1-based.
DATE_FIXED = {
    "YYYY-MM-DD": (r"[0-9]{4}-[0-9]{2}-[0-9]{2}", 1, 6, 9),
    "MM/DD/YYYY": (r"[0-9]{2}/[0-9]{2}/[0-9]{4}", 7, 1, 4),
    "YYYYMMDD": (r"[0-9]{8}", 1, 5, 7),
    "MM-DD-YYYY": (r"[0-9]{2}-[0-9]{2}-[0-9]{4}", 7, 1, 4),
    "MMDDYYYY": (r"[0-9]{8}", 5, 1, 3),
    "YYYY/MM/DD": (r"[0-9]{4}/[0-9]{2}/[0-9]{2}", 1, 6, 9),
    "DD/MM/YYYY": (r"[0-9]{2}/[0-9]{2}/[0-9]{4}", 7, 4, 1),
}


class ProfileColumnError(ValueError):
    """A column the profile maps from is not in the file (file, column, profile)."""


@dataclass(frozen=True)
class Reading:
    """What staging one file kind needs from the plan's profile."""

    active: ActiveProfile
    table: str  # encounters | members | providers
    plan: str

    @property
    def part(self) -> TableProfile:
        return self.active.table(self.table)

    @property
    def dialect(self) -> Dialect:
        return self.part.dialect or self.active.profile.dialect


def utf8_copy(path: Path, encoding: str, target: Path) -> Path:
    """`path` (plain or gzip) re-encoded as UTF-8 into `target`. Bytes the encoding does not
    define are written through unchanged, so DuckDB finds the row not UTF-8 and keeps it as an
    unparseable row, as it would in a UTF-8 file."""
    opener = gzip.open if path.name.endswith(".gz") else open
    decoder = codecs.getincrementaldecoder(encoding)(errors="surrogateescape")
    with opener(path, "rb") as source, open(target, "wb") as out:
        while chunk := source.read(CHUNK):
            if chunk.isascii():  # most of an extract: the same bytes in UTF-8
                out.write(chunk)
                continue
            out.write(decoder.decode(chunk).encode("utf-8", errors="surrogateescape"))
        out.write(decoder.decode(b"", final=True).encode("utf-8", errors="surrogateescape"))
    return target


def _raw(ident: str) -> str:
    return f"NULLIF(TRIM(CAST({ident} AS VARCHAR)), '')"


def _from_source(source: Source, ident: str) -> str:
    text = _raw(ident)
    if source.pattern is not None:
        text = f"coalesce(NULLIF(regexp_extract({text}, {sql_str(source.pattern)}, 1), ''), {text})"
    if source.default is not None:
        text = f"coalesce({text}, {sql_str(source.default)})"
    return text


def _parts(ident: str, separator: str) -> str:
    return (
        f"list_transform(string_split({_raw(ident)}, {sql_str(separator)}), "
        "lambda p: NULLIF(TRIM(p), ''))"
    )


def _value_map(text: str, values: dict[str, str], unmapped: str) -> str:
    # Plain CASE over the (cheap, repeated) text: a lambda binding it once cost ~4x more.
    cases = " ".join(f"WHEN {sql_str(k)} THEN {sql_str(v)}" for k, v in values.items())
    other = f"{sql_str(UNMAPPED_MARK)} || {text}" if unmapped == "reject" else text
    return f"(CASE {text} {cases} ELSE {other} END)"


def _date(text: str, name: str) -> str:
    """One format: a fixed-width value is rearranged by position (no parsing: the contract's own
    rule judges the calendar date); anything else goes through strptime (`9/1/2026`)."""
    fixed = DATE_FIXED.get(name)
    parsed = f"strftime(try_strptime({text}, {sql_str(DATE_FORMATS[name])}), '%Y-%m-%d')"
    if fixed is None:
        return parsed
    shape, year, month, day = fixed
    rearranged = (
        f"substr({text}, {year}, 4) || '-' || substr({text}, {month}, 2) || '-' || "
        f"substr({text}, {day}, 2)"
    )
    return f"(CASE WHEN regexp_full_match({text}, {sql_str(shape)}) THEN {rearranged} ELSE {parsed} END)"


def _dates(text: str, formats: list[str]) -> str:
    return f"coalesce({', '.join(_date(text, f) for f in formats)}, {text})"


def _amounts(text: str, part: TableProfile) -> str:
    amounts = part.amounts
    if amounts is None:
        return text
    if amounts.currency_symbol:
        text = f"replace({text}, {sql_str(amounts.currency_symbol)}, '')"
    if amounts.thousands_separator:
        text = f"replace({text}, {sql_str(amounts.thousands_separator)}, '')"
    if amounts.decimal_separator != ".":
        text = f"replace({text}, {sql_str(amounts.decimal_separator)}, '.')"
    return f"NULLIF(TRIM({text}), '')"


@dataclass(frozen=True)
class Mapping:
    """Per contract column, the SQL producing its text (None: absent), and what the file holds
    that the mapping does not use (reported as extra columns)."""

    expressions: dict[str, str | None]
    used_sources: frozenset[str]
    # Helper columns computed once per row before the expressions (a packed field's parts):
    # name -> SQL over the raw columns (the reader selects them around the raw relation).
    helpers: dict[str, str]


def map_columns(
    reading: Reading, file_name: str, present: dict[str, str], contract: tuple[str, ...]
) -> Mapping:
    """Each contract column's raw text SQL. `present`: the file's normalised header name ->
    the identifier to read it by. A column the profile names that the file lacks fails here,
    naming file, column and profile."""
    part = reading.part
    used: set[str] = set()

    def ident(name: str, key: str) -> str:
        found = present.get(name.strip().lower())
        if found is None:
            raise ProfileColumnError(
                f"{file_name}: line 1: column {name!r} is not in the header; profile "
                f"{reading.active.name!r} maps it ({reading.table}.{key}) "
                f"[{reading.active.source.name}]"
            )
        used.add(name.strip().lower())
        return sql_ident(found)

    expressions: dict[str, str | None] = {}
    helpers: dict[str, str] = {}
    for number, packed in enumerate(part.packed):
        parts = f"_packed_{number}"
        helpers[parts] = _parts(ident(packed.column, f"packed.{number}"), packed.separator)
        if packed.join is not None:
            expressions[packed.into[0]] = (
                f"NULLIF(array_to_string(list_filter({parts}, lambda p: p IS NOT NULL), "
                f"{sql_str(packed.join)}), '')"
            )
            continue
        last = len(packed.into)
        for position, target in enumerate(packed.into, start=1):
            expressions[target] = (
                f"(CASE WHEN len({parts}) > {last} THEN array_to_string(({parts})[{last}:], "
                f"{sql_str(packed.separator)}) ELSE ({parts})[{position}] END)"
                if position == last
                else f"({parts})[{position}]"
            )
    for column, value in part.constants.items():
        value = reading.plan if value == PLAN_PLACEHOLDER else value
        expressions[column] = sql_str(value)
    for column in part.columns:
        source = part.source(column)
        assert source is not None
        expressions[column] = _from_source(source, ident(source.column, f"columns.{column}"))
    for column in contract:
        if column not in expressions:
            same = present.get(column)
            if same is not None:
                used.add(column)
            expressions[column] = _raw(sql_ident(same)) if same is not None else None
    _, dates, amounts = TABLES[reading.table]
    for column, text in list(expressions.items()):
        if text is None:
            continue
        if column in part.value_maps:
            value_map = part.value_maps[column]
            text = _value_map(text, value_map.values, value_map.unmapped)
        if column in dates and part.date_formats:
            text = _dates(text, part.date_formats)
        if column in amounts:
            text = _amounts(text, part)
        expressions[column] = text
    return Mapping(expressions, frozenset(used), helpers)
