"""X12 bits shared by the response writer (simulator) and reader (parser).

Reading goes through pyx12's tokenizer (``pyx12.rawx12file.RawX12File``): it reads the ISA, takes
the separators it declares and splits the segments. The envelope (ISA/IEA, GS/GE, ST/SE counts and
control numbers) is checked here as segments stream past. Errors never quote segment values: in a
277CA they include member names and ids. Whole-file validation against the implementation guide is
pyx12's x12n_document (the tests run it on everything the simulator writes).
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import TextIO

import pyx12.errors
import pyx12.rawx12file

GUIDE_999 = "005010X231A1"
GUIDE_277CA = "005010X214"


class Segments:
    """Writes `ID*e1*e2~` lines (trailing empty elements dropped) and counts them for SE01."""

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.count = 0

    def put(self, *elements: str | None) -> None:
        values = ["" if e is None else str(e) for e in elements]
        while values and values[-1] == "":
            values.pop()
        self.out.write("*".join(values) + "~\n")
        self.count += 1


def isa(
    sender_qualifier: str,
    sender: str,
    receiver_qualifier: str,
    receiver: str,
    when: datetime,
    control: int,
    usage: str,
) -> str:
    """The fixed-width ISA segment (16 elements, ISA16 the component separator)."""
    return (
        "*".join(
            [
                "ISA",
                "00",
                " " * 10,
                "00",
                " " * 10,
                sender_qualifier,
                sender.ljust(15),
                receiver_qualifier,
                receiver.ljust(15),
                when.strftime("%y%m%d"),
                when.strftime("%H%M"),
                "^",
                "00501",
                f"{control:09d}",
                "0",
                usage,
                ":",
            ]
        )
        + "~\n"
    )


class X12ReadError(ValueError):
    """The file is not readable X12 (no ISA, broken envelope): message names codes, not values."""


@contextmanager
def quiet_pyx12() -> Iterator[None]:
    """Keep pyx12's logger (it can quote segment values) out of the application's logs."""
    logger = logging.getLogger("pyx12")
    propagate, level = logger.propagate, logger.level
    logger.propagate = False
    logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        logger.propagate = propagate
        logger.setLevel(level)


ENVELOPE_IDS = frozenset({"ISA", "GS", "ST", "SE", "GE", "IEA"})


class _Envelope:
    """ISA/IEA, GS/GE and ST/SE pairing and counts: what pyx12's X12Reader checks, kept here so
    the segments can come from pyx12's raw tokenizer (X12Reader builds a Segment object per
    segment and parses a path per value read: ~50x slower on a million-claim 277CA)."""

    def __init__(self) -> None:
        self.isa13 = ""
        self.gs06 = ""
        self.groups = 0
        self.sets = 0
        self.st02 = ""
        self.segments = 0

    def see(self, sid: str, e: list[str]) -> None:
        """An envelope segment (ENVELOPE_IDS); the reader counts the others for SE01."""
        if sid == "ISA":
            self.isa13 = e[13] if len(e) > 13 else ""
        elif sid == "GS":
            self.gs06, self.groups, self.sets = _at(e, 6), self.groups + 1, 0
        elif sid == "ST":
            if self.st02:
                raise X12ReadError("ST without SE before it (envelope error 024)")
            self.st02, self.segments, self.sets = _at(e, 2) or "?", 1, self.sets + 1
        elif sid == "SE":
            self.segments += 1
            if _at(e, 2) != self.st02 or _at(e, 1) != str(self.segments):
                raise X12ReadError("SE count or control number does not match its ST")
            self.st02 = ""
        elif sid == "GE":
            if _at(e, 2) != self.gs06 or _at(e, 1) != str(self.sets):
                raise X12ReadError("GE count or control number does not match its GS")
            self.gs06 = ""
        elif sid == "IEA":
            if _at(e, 2) != self.isa13 or _at(e, 1) != str(self.groups):
                raise X12ReadError("IEA count or control number does not match the ISA")
            self.isa13 = ""

    def close(self) -> None:
        if self.st02 or self.gs06 or self.isa13:
            raise X12ReadError("the file ends inside an open ST, GS or ISA (truncated?)")


def _at(elements: list[str], index: int) -> str:
    return elements[index] if index < len(elements) else ""


class _SmallReads:
    """Hands pyx12's tokenizer the file in small pieces: RawX12File splits one segment off its
    buffer at a time, copying the rest, so a small buffer makes that copy cheap (about 2x faster
    on a 277CA of a million claims). Only the read size changes, not how segments are found."""

    def __init__(self, handle: TextIO, size: int = 512) -> None:
        self.handle, self.size = handle, size

    def read(self, n: int = -1) -> str:
        return self.handle.read(n if n == 106 else self.size)  # the ISA is read whole first


class X12Stream:
    """The segments of one file as (segment id, elements), tokenized by pyx12's RawX12File with
    the separators the ISA declares; the envelope (ISA/IEA, GS/GE, ST/SE counts and control
    numbers) is checked as they stream past. Errors never quote a segment value."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.sub = ":"

    def __iter__(self) -> Iterator[tuple[str, list[str]]]:
        with open(self.path, encoding="ascii", errors="strict", newline="") as handle:
            try:
                with quiet_pyx12():
                    raw = pyx12.rawx12file.RawX12File(_SmallReads(handle))  # type: ignore[arg-type]
            except (pyx12.errors.X12Error, ValueError) as exc:
                reason = "not an X12 interchange: no well-formed 106-character ISA segment"
                raise X12ReadError(reason) from exc
            except UnicodeDecodeError:
                raise X12ReadError("not ASCII text (X12 files are ASCII)") from None
            ele, self.sub = raw.ele_term, raw.subele_term
            envelope = _Envelope()
            count = 0
            try:
                for line in raw:
                    elements = line.strip().split(ele)
                    sid = elements[0]
                    if sid in ENVELOPE_IDS:
                        envelope.see(sid, elements)
                    elif not sid.isalnum() or len(sid) > 3:
                        raise X12ReadError(f"segment {count + 1} has no valid segment id")
                    else:
                        envelope.segments += 1
                    count += 1
                    yield sid, elements
            except UnicodeDecodeError:
                raise X12ReadError("not ASCII text (X12 files are ASCII)") from None
            envelope.close()
            if count == 0:
                raise X12ReadError("has no segments")


def read_segments(path: Path) -> Iterator[tuple[str, Seg]]:
    """(segment id, segment) for every segment of the file (X12Stream), read by reference."""
    stream = X12Stream(path)
    for sid, elements in stream:
        yield sid, Seg(elements, stream.sub)


class Seg:
    """One segment's elements, read by reference (`CLM01`, `CLM05-3`)."""

    __slots__ = ("elements", "sub")

    def __init__(self, elements: list[str], sub: str) -> None:
        self.elements, self.sub = elements, sub

    def get(self, ref: str) -> str:
        index, component = _ref(ref)
        text = self.elements[index] if index < len(self.elements) else ""
        if component is None:
            return text
        parts = text.split(self.sub)
        return parts[component - 1] if component <= len(parts) else ""


@functools.cache
def _ref(ref: str) -> tuple[int, int | None]:
    if "-" in ref:
        head, _, comp = ref.partition("-")
        return int(head[-2:]), int(comp)
    return int(ref[-2:]), None


def value(seg: Seg, ref: str) -> str:
    return seg.get(ref)


def parse_date_time(d8: str, hhmm: str) -> datetime:
    """CCYYMMDD + HHMM[SS] → a naive datetime (X12 times carry no zone)."""
    hhmm = (hhmm or "0000")[:4].ljust(4, "0")
    return datetime.strptime(d8 + hhmm, "%Y%m%d%H%M")
