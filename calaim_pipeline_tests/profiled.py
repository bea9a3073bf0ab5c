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
