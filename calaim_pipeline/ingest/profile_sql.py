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

import gzip
import re
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import numpy as np

from calaim_pipeline.ingest.contract import ICD10_COLUMNS
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
FEW_DISTINCT = 4  # up to this many distinct non-ASCII bytes in a chunk: bytes.replace each


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


@cache
def _utf8_bytes(encoding: str) -> list[bytes]:
    """Per byte of a single-byte encoding, its UTF-8 form; a byte the encoding does not define
    stays itself (invalid UTF-8, so DuckDB rejects the row as in a UTF-8 file)."""
    table = []
    for byte in range(256):
        try:
            table.append(bytes([byte]).decode(encoding).encode("utf-8"))
        except UnicodeDecodeError:
            table.append(bytes([byte]))
    return table


def _marker(chunk: bytes) -> bytes | None:
    """An ASCII control byte the chunk does not hold (a placeholder's first byte), if any."""
    for byte in range(1, 32):
        if bytes([byte]) not in chunk and byte not in (10, 13):
            return bytes([byte])
    return None


def _recode(chunk: bytes, encoding: str) -> bytes:
    """A chunk of a single-byte encoding as UTF-8: only the bytes >= 0x80 change. An extract
    holds few distinct ones (the en dash of a status text, a name's accents), so each is
    replaced in one C-speed `bytes.replace` pass, through an ASCII placeholder when there are
    several (a replacement's own UTF-8 bytes must not be replaced again); a chunk with many
    distinct ones is rebuilt around each non-ASCII byte. A single-byte encoding has no
    sequence a chunk's end could cut. On the benchmark's file (1M lines): Python's decode +
    encode of every chunk cost ~15% of the plain staging, the rebuilding loop 0.53 s CPU, the
    replaces 0.19 s, reading and writing included (docs/benchmark.md)."""
    if chunk.isascii():  # most of an extract: the same bytes in UTF-8
        return chunk
    table = _utf8_bytes(encoding)
    data = np.frombuffer(chunk, np.uint8)
    present = np.flatnonzero(np.bincount(data[data >= 0x80], minlength=256))  # np.unique: 2.5x
    changed = [v for v in present.tolist() if table[v] != bytes([v])]
    if len(changed) <= 1:  # nothing to change but undefined bytes, or one value: one pass
        return chunk.replace(bytes(changed), table[changed[0]]) if changed else chunk
    marker = _marker(chunk) if len(changed) <= FEW_DISTINCT else None
    if marker is not None:
        held = [marker + bytes([65 + i]) for i in range(len(changed))]
        for value, placeholder in zip(changed, held, strict=True):
            chunk = chunk.replace(bytes([value]), placeholder)
        for value, placeholder in zip(changed, held, strict=True):
            chunk = chunk.replace(placeholder, table[value])
        return chunk
    high = np.flatnonzero(data >= 0x80)
    pieces, start = [], 0
    for position, byte in zip(high.tolist(), data[high].tolist(), strict=True):
        pieces += (chunk[start:position], table[byte])
        start = position + 1
    pieces.append(chunk[start:])
    return b"".join(pieces)


def is_ascii(path: Path) -> bool:
    """Whether `path` (plain or gzip) holds only ASCII bytes: then it is its own UTF-8 copy.
    Stops at the first chunk that is not (usually the first: free text is on most pages)."""
    opener = gzip.open if path.name.endswith(".gz") else open
    with opener(path, "rb") as source:
        while chunk := source.read(CHUNK):
            if not chunk.isascii():
                return False
    return True


def utf8_copy(path: Path, encoding: str, target: Path) -> Path:
    """`path` (plain or gzip) re-encoded as UTF-8 into `target`, line for line. Bytes the
    encoding does not define are written through unchanged, so DuckDB finds the row not UTF-8
    and keeps it as an unparseable row, as it would in a UTF-8 file."""
    opener = gzip.open if path.name.endswith(".gz") else open
    with opener(path, "rb") as source, open(target, "wb") as out:
        while chunk := source.read(CHUNK):
            out.write(_recode(chunk, encoding))
    return target


def _raw(ident: str) -> str:
    return f"NULLIF(TRIM(CAST({ident} AS VARCHAR)), '')"


def _from_source(source: Source, text: str) -> str:
    """A mapped column's text (`text`: its trimmed helper column), its pattern and default."""
    if source.pattern is not None:
        text = f"coalesce(NULLIF(regexp_extract({text}, {sql_str(source.pattern)}, 1), ''), {text})"
    if source.default is not None:
        text = f"coalesce({text}, {sql_str(source.default)})"
    return text


def _tidy(parts: str) -> str:
    """A list of raw parts trimmed, empty ones NULL."""
    return f"list_transform({parts}, lambda p: NULLIF(TRIM(p), ''))"


def _part(parts: str, separator: str, position: int, last: int) -> str:
    """Part `position` of a packed value (`parts`: its string_split list, a helper column, of
    parts already trimmed: `_split_text`). The last target also takes any surplus parts,
    joined, so its rule rejects them; only those rare rows pay for the per-part lambda."""
    part = f"NULLIF(({parts})[{position}], '')"
    if position < last:
        return part
    rest = f"NULLIF(array_to_string({_tidy(f'({parts})[{last}:]')}, {sql_str(separator)}), '')"
    return f"(CASE WHEN len({parts}) > {last} THEN {rest} ELSE {part} END)"


def _split_text(text: str, separator: str, icd: bool) -> str:
    """The packed value as it is split: spaces around its separators dropped (only a value
    holding a space pays for that), so every part comes out trimmed; for diagnosis targets also
    the contract's ICD-10 normalisation (upper case, no dots), done once for the whole value
    instead of per part (`normalised`). Per-part trimming and normalising of twelve diagnosis
    parts cost more than the rest of the mapping together (docs/benchmark.md)."""
    pattern = sql_str(f" *{re.escape(separator)} *")
    text = (
        f"(CASE WHEN contains({text}, ' ') THEN regexp_replace({text}, {pattern}, "
        f"{sql_str(separator)}, 'g') ELSE {text} END)"
    )
    return f"upper(replace({text}, '.', ''))" if icd else text


def _icd_split(separator: str, into: list[str]) -> bool:
    """Whether a packed field's parts can be normalised as one value: all its targets are
    ICD-10 columns and removing dots or upper-casing cannot make or break a separator."""
    plain = len(separator) == 1 and separator != "." and separator == separator.upper()
    return plain and all(target in ICD10_COLUMNS for target in into)


def _joined(text: str, parts: str, separator: str, join: str) -> str:
    """A packed value's parts rejoined with `join`: a plain replace unless a part is empty or
    padded (then the parts are trimmed and empty ones dropped)."""
    sep = sql_str(separator)
    untidy = (
        f"(contains({text}, {sql_str(separator * 2)}) OR starts_with({text}, {sep}) OR "
        f"ends_with({text}, {sep}) OR contains({text}, ' '))"
    )
    tidy = (
        f"NULLIF(array_to_string(list_filter({_tidy(parts)}, lambda p: p IS NOT NULL), "
        f"{sql_str(join)}), '')"
    )
    return f"(CASE WHEN {untidy} THEN {tidy} ELSE replace({text}, {sep}, {sql_str(join)}) END)"


def _value_map(text: str, values: dict[str, str], unmapped: str) -> str:
    # Plain CASE over the (cheap, repeated) text: a lambda binding it once cost ~4x more.
    cases = " ".join(f"WHEN {sql_str(k)} THEN {sql_str(v)}" for k, v in values.items())
    other = f"{sql_str(UNMAPPED_MARK)} || {text}" if unmapped == "reject" else text
    return f"(CASE {text} {cases} ELSE {other} END)"


def _dates(text: str, formats: list[str]) -> str:
    """The first of the formats that reads the value as a real date, as ISO text; a value none
    reads is kept as read, so the contract's rule judges it (`02/30/2026` fails DATE_UNPARSEABLE,
    a contract ISO date passes). Parsed to a DATE and cast back: DuckDB's date formatting is
    cheaper than strftime or rearranging substrings (measured, docs/benchmark.md)."""
    parsed = [
        f"CAST(CAST(try_strptime({text}, {sql_str(DATE_FORMATS[name])}) AS DATE) AS VARCHAR)"
        for name in formats
    ]
    return f"coalesce({', '.join(parsed)}, {text})"


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
    # Helper columns computed once per row before the expressions (each mapped file column's
    # trimmed text, each packed field's parts): name -> SQL over the raw columns (the reader
    # selects them around the raw relation).
    helpers: dict[str, str]
    # Each packed field's parts (`_p<n>`): SQL over the trimmed helper columns, selected around
    # them, so a packed value is trimmed once however often its split reads it.
    parts: dict[str, str] = field(default_factory=dict)
    # Contract columns whose SQL already applies the contract's normalisation (packed diagnoses).
    normalised: frozenset[str] = frozenset()


def map_columns(
    reading: Reading, file_name: str, present: dict[str, str], contract: tuple[str, ...]
) -> Mapping:
    """Each contract column's raw text SQL. `present`: the file's normalised header name ->
    the identifier to read it by. A column the profile names that the file lacks fails here,
    naming file, column and profile.

    Each file column the profile reads is trimmed once, into a helper column (`_t<n>`) the
    expressions refer to (a date reads its text several times per row), and each packed field
    is split once (`_p<n>`)."""
    part = reading.part
    used: set[str] = set()
    helpers: dict[str, str] = {}
    trimmed: dict[str, str] = {}  # normalised file column -> its helper column

    def text(found: str, name: str) -> str:
        if name not in trimmed:
            trimmed[name] = f"_t{len(trimmed)}"
            helpers[trimmed[name]] = _raw(sql_ident(found))
        return trimmed[name]

    def ident(name: str, key: str) -> str:
        found = present.get(name.strip().lower())
        if found is None:
            raise ProfileColumnError(
                f"{file_name}: line 1: column {name!r} is not in the header; profile "
                f"{reading.active.name!r} maps it ({reading.table}.{key}) "
                f"[{reading.active.source.name}]"
            )
        used.add(name.strip().lower())
        return text(found, name.strip().lower())

    expressions: dict[str, str | None] = {}
    normalised: set[str] = set()
    packed_parts: dict[str, str] = {}
    for number, packed in enumerate(part.packed):
        column = ident(packed.column, f"packed.{number}")
        parts = f"_p{number}"
        if packed.join is not None:  # split only in the rare untidy rows (`_joined`)
            parts = f"string_split({column}, {sql_str(packed.separator)})"
            expressions[packed.into[0]] = _joined(column, parts, packed.separator, packed.join)
            continue
        icd = _icd_split(packed.separator, packed.into)
        split = _split_text(column, packed.separator, icd)
        packed_parts[parts] = f"string_split({split}, {sql_str(packed.separator)})"
        normalised |= set(packed.into) if icd else set()
        last = len(packed.into)
        for position, target in enumerate(packed.into, start=1):
            expressions[target] = _part(parts, packed.separator, position, last)
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
    for column, sql in list(expressions.items()):
        if sql is None:
            continue
        if column in part.value_maps:
            value_map = part.value_maps[column]
            sql = _value_map(sql, value_map.values, value_map.unmapped)
        if column in dates and part.date_formats:
            sql = _dates(sql, part.date_formats)
        if column in amounts:
            sql = _amounts(sql, part)
        expressions[column] = sql
    return Mapping(expressions, frozenset(used), helpers, packed_parts, frozenset(normalised))
