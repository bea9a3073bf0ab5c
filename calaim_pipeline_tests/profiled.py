"""Rewriting a contract-shaped CSV line by line into another shape (the Tuva fixture's
eligibility). The bundled sample's own profiled shape is written by the generator itself
(calaim_pipeline/sample/profiled.py, through the shipped profile's inverse)."""

from __future__ import annotations

import csv
from pathlib import Path


def rewrite_csv(path: Path, convert, delimiter: str = "|", encoding: str = "cp1252") -> None:
    """Line by line (the sample writes one record per line): a record with the header's field
    count is converted; any other (an unparseable row) keeps its fields, pipe-joined, so it stays
    unparseable. An undecodable byte becomes one Windows-1252 does not define (0x81)."""
    lines = path.read_bytes().split(b"\n")
    header = next(csv.reader([lines[0].decode("utf-8-sig")]))
    out_header: list[str] | None = None
    body = []
    for raw in lines[1:]:
        if not raw:
            continue
        text = raw.decode("utf-8", errors="surrogateescape").rstrip("\r")
        fields = next(csv.reader([text]))
        if len(fields) == len(header) and "\udcff" not in text:
            converted = convert(dict(zip(header, fields, strict=True)))
            out_header = out_header or list(converted)
            fields = [converted[name] for name in out_header]
        else:
            # An undecodable byte: one Windows-1252 does not define either (0x81).
            bad = "\udc81" if encoding == "cp1252" else None
            fields = [f.replace("\udcff", bad) if bad else f for f in fields]
        body.append(delimiter.join(_quoted(f, delimiter) for f in fields))
    assert out_header is not None
    text = "\n".join([delimiter.join(out_header), *body]) + "\n"
    path.write_bytes(text.encode(encoding, errors="surrogateescape"))


def _quoted(field: str, delimiter: str) -> str:
    if delimiter in field or '"' in field:
        return '"' + field.replace('"', '""') + '"'
    return field


def read_roster(path: Path) -> list[dict[str, str]]:
    """A landing members.csv read the way the pipeline reads it: through its plan's configured
    ingest profile (dialect and column names; the bundled sample's HPSM is pipe-delimited
    Windows-1252 with its own names), rows keyed by the contract's column names, values as
    written, plus `birth_date_iso` (the birth date as the staged data and outputs hold it)."""
    from datetime import datetime

    from calaim_pipeline.ingest.contract import MEMBER_COLUMNS
    from calaim_pipeline.ingest.profiles import DATE_FORMATS, profile_for_plan

    active = profile_for_plan(path.parent.parent.name)
    part = active.table("members") if active is not None else None
    dialect = (part.dialect or active.profile.dialect) if active is not None else None
    names = {}
    for column in MEMBER_COLUMNS:
        source = part.source(column) if part is not None else None
        names[column] = source.column if source is not None else column
    formats = [DATE_FORMATS[f] for f in (part.date_formats if part is not None else [])]
    rows = []
    with path.open(newline="", encoding=dialect.encoding if dialect else "utf-8") as handle:
        reader = csv.DictReader(handle, delimiter=dialect.delimiter if dialect else ",")
        for raw in reader:
            row = {column: (raw.get(name) or "") for column, name in names.items()}
            row["birth_date_iso"] = row["birth_date"]
            for fmt in formats:
                try:
                    parsed = datetime.strptime(row["birth_date"].strip(), fmt)
                except ValueError:
                    continue
                row["birth_date_iso"] = parsed.date().isoformat()
                break
            rows.append(row)
    return rows
