"""999 and 277CA files read with pyx12's reader into plain rows.

Nothing here logs or raises with segment values: a 277CA names patients (2100D NM1*QC), so errors
say which segment id and which element was wrong, never what it held. Claim rows are kept as
columns (lists), so a 277CA of a million claims costs a few lists, not a million objects.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import pyarrow as pa

from calaim_pipeline.responses import codes
from calaim_pipeline.responses.x12 import (
    GUIDE_277CA,
    GUIDE_999,
    Seg,
    X12ReadError,
    X12Stream,
    parse_date_time,
    read_segments,
    value,
)


@dataclass
class Envelope:
    sender: str = ""  # ISA06: who sent the response (DHCS)
    receiver: str = ""  # ISA08: whom it is for (the plan's ISA sender id)
    isa13: str = ""
    simulated: bool = False  # ISA15 = T (test data): the simulator's answers
    guide: str = ""  # GS08
    date: datetime | None = None  # GS04/GS05, or the 277CA's BHT04/BHT05


@dataclass
class AckedSet:
    """One AK2 of a 999: our transaction set and DHCS's verdict on it."""

    st02: str
    ack_code: str = ""
    ik3: list[str] = field(default_factory=list)
    ik4: list[str] = field(default_factory=list)
    ik5: list[str] = field(default_factory=list)


@dataclass
class Ack999:
    envelope: Envelope
    group_control_number: str = ""  # AK102: our GS06
    group_ack_code: str = ""  # AK901
    sets: list[AckedSet] = field(default_factory=list)


@dataclass
class ClaimAnswers:
    """A 277CA's claims as columns: which of our interchanges (ISA13, from the 2200B trace),
    CLM01 and verdict. Filled in lists, moved to Arrow every CHUNK claims so a file of a million
    claims holds compact Arrow columns, not millions of Python strings."""

    CHUNK = 100_000

    trace: list[str] = field(default_factory=list)
    claim_id: list[str] = field(default_factory=list)
    status: list[str] = field(default_factory=list)
    icn: list[str | None] = field(default_factory=list)
    stc: list[str] = field(default_factory=list)
    batches: list[pa.RecordBatch] = field(default_factory=list)
    flushed: int = 0

    def __len__(self) -> int:
        return self.flushed + len(self.claim_id)

    def flush(self) -> None:
        if not self.claim_id:
            return
        self.batches.append(
            pa.record_batch(
                {
                    "interchange_control_number": [t[:9] for t in self.trace],
                    "claim_id": self.claim_id,
                    "status": self.status,
                    "dhcs_icn": pa.array(self.icn, pa.string()),
                    "stc_codes": self.stc,
                }
            )
        )
        self.flushed += len(self.claim_id)
        for column in (self.trace, self.claim_id, self.status, self.icn, self.stc):
            column.clear()

    def table(self) -> pa.Table:
        self.flush()
        return pa.Table.from_batches(self.batches, schema=ANSWER_SCHEMA)


ANSWER_SCHEMA = pa.schema(
    [
        ("interchange_control_number", pa.string()),
        ("claim_id", pa.string()),
        ("status", pa.string()),
        ("dhcs_icn", pa.string()),
        ("stc_codes", pa.string()),
    ]
)


@dataclass
class Ack277:
    envelope: Envelope
    traces: list[str] = field(default_factory=list)  # 2200B TRN02 per transaction set
    claims: ClaimAnswers = field(default_factory=ClaimAnswers)


def _envelope(sid: str, seg: object, env: Envelope) -> None:
    if sid == "ISA":
        env.sender = value(seg, "ISA06").strip()
        env.receiver = value(seg, "ISA08").strip()
        env.isa13 = value(seg, "ISA13")
        env.simulated = value(seg, "ISA15") == "T"
    elif sid == "GS":
        if env.guide and env.guide != value(seg, "GS08"):
            raise X12ReadError("functional groups of different implementation guides")
        env.guide = value(seg, "GS08")
        env.date = env.date or parse_date_time(value(seg, "GS04"), value(seg, "GS05"))


def guide_of(path: Path) -> str:
    """GS08 of the file: which kind of response it is."""
    env = Envelope()
    for sid, seg in read_segments(path):
        _envelope(sid, seg, env)
        if sid == "GS":
            return env.guide
    raise X12ReadError("has no GS segment")


def parse_999(path: Path) -> Ack999:
    ack = Ack999(Envelope())
    current: AckedSet | None = None
    for sid, seg in read_segments(path):
        if sid in ("ISA", "GS"):
            _envelope(sid, seg, ack.envelope)
        elif sid == "AK1":
            if ack.group_control_number:
                raise X12ReadError("acknowledges more than one functional group")
            ack.group_control_number = value(seg, "AK102")
        elif sid == "AK2":
            current = AckedSet(value(seg, "AK202"))
            ack.sets.append(current)
        elif sid == "IK3" and current is not None:
            current.ik3.append(
                ":".join(value(seg, f"IK30{i}") for i in (1, 2, 3, 4) if value(seg, f"IK30{i}"))
            )
        elif sid == "IK4" and current is not None:
            current.ik4.append(
                ":".join(value(seg, f"IK40{i}") for i in (1, 2, 3) if value(seg, f"IK40{i}"))
            )
        elif sid == "IK5" and current is not None:
            current.ack_code = value(seg, "IK501")
            current.ik5.extend(v for v in (value(seg, f"IK50{i}") for i in range(2, 7)) if v)
        elif sid == "AK9":
            ack.group_ack_code = value(seg, "AK901")
    if ack.envelope.guide != GUIDE_999:
        raise X12ReadError(f"GS08 is {ack.envelope.guide or 'missing'}, not {GUIDE_999}")
    if not ack.group_control_number or not ack.sets:
        raise X12ReadError("has no AK1/AK2: acknowledges nothing")
    if any(not s.ack_code for s in ack.sets):
        raise X12ReadError("an AK2 has no IK5")
    return ack


def _stc_codes(e: list[str], sub: str) -> list[tuple[str, str]]:
    """(code, category) of each STC01 / STC10 / STC11 composite: `A7:562` (entity code kept)."""
    found = []
    for index in (1, 10, 11):
        if index < len(e) and e[index]:
            parts = [p for p in e[index].split(sub)[:3] if p]
            if parts:
                found.append((":".join(parts), parts[0]))
    return found


def parse_277ca(path: Path) -> Ack277:
    """A 277CA's claims as columns. The loop reads elements by position (``seg.elements``): a
    277CA of a million claims is ten million segments, so this is the hot path of ingestion."""
    ack = Ack277(Envelope())
    claims = ack.claims
    trace, claim_id, status, icn, stc_column = (
        claims.trace,
        claims.claim_id,
        claims.status,
        claims.icn,
        claims.stc,
    )
    rejected_categories = codes.REJECTED_CATEGORIES
    level = ""
    in_claim = False
    rejected = False
    answered = False
    codes_of_claim: list[str] = []

    def close_claim() -> None:
        status.append("rejected" if rejected or not answered else "accepted")
        stc_column.append("|".join(codes_of_claim))
        if len(icn) < len(claim_id):
            icn.append(None)
        if len(claim_id) >= claims.CHUNK:
            claims.flush()  # clears the lists in place

    stream = X12Stream(path)
    for sid, e in stream:
        if sid == "HL":
            if in_claim:
                close_claim()
                in_claim = False
            level = e[3] if len(e) > 3 else ""
        elif sid == "TRN":
            if len(e) > 2 and e[1] == "2":
                if level == "PT":
                    if in_claim:
                        close_claim()
                    in_claim, rejected, answered, codes_of_claim = True, False, False, []
                    trace.append(ack.traces[-1] if ack.traces else "")
                    claim_id.append(e[2])
                elif level == "21":
                    ack.traces.append(e[2])
        elif sid == "STC":
            if in_claim:
                action = e[3] if len(e) > 3 else ""
                for code, category in _stc_codes(e, stream.sub):
                    codes_of_claim.append(code)
                    answered = True
                    if category in rejected_categories or action == "U":
                        rejected = True
        elif sid == "REF":
            if in_claim and len(e) > 2 and e[1] == "1K" and len(icn) < len(claim_id):
                icn.append(e[2])
        elif sid == "SE":
            if in_claim:
                close_claim()
                in_claim = False
            level = ""
        elif sid in ("ISA", "GS"):
            _envelope(sid, Seg(e, stream.sub), ack.envelope)
        elif sid == "BHT" and ack.envelope.date is not None and len(e) > 5:
            ack.envelope.date = max(ack.envelope.date, parse_date_time(e[4], e[5]))
    if in_claim:
        close_claim()
    if ack.envelope.guide != GUIDE_277CA:
        raise X12ReadError(f"GS08 is {ack.envelope.guide or 'missing'}, not {GUIDE_277CA}")
    if not ack.traces:
        raise X12ReadError("has no 2200B TRN (the trace of the 837 it answers)")
    return ack
