"""999 and 277CA files read with pyx12's reader into plain rows.

Nothing here logs or raises with segment values: a 277CA names patients (2100D NM1*QC), so errors
say which segment id and which element was wrong, never what it held. Claim rows are kept as
columns (lists), so a 277CA of a million claims costs a few lists, not a million objects.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from calaim_pipeline.responses import codes
from calaim_pipeline.responses.x12 import (
    GUIDE_277CA,
    GUIDE_999,
    X12ReadError,
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
    """A 277CA's claims as columns: which of our transaction sets (BHT03), CLM01, verdict."""

    trace: list[str] = field(default_factory=list)
    claim_id: list[str] = field(default_factory=list)
    status: list[str] = field(default_factory=list)
    icn: list[str | None] = field(default_factory=list)
    stc: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.claim_id)


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


def _claim_status(stc: list[tuple[str, str]]) -> str:
    rejected = any(cat in codes.REJECTED_CATEGORIES or action == "U" for cat, action in stc)
    return "rejected" if rejected or not stc else "accepted"


def parse_277ca(path: Path) -> Ack277:
    ack = Ack277(Envelope())
    claims = ack.claims
    level = ""
    in_claim = False
    stc: list[tuple[str, str]] = []
    codes_of_claim: list[str] = []

    def close_claim() -> None:
        if in_claim:
            claims.status.append(_claim_status(stc))
            claims.stc.append("|".join(codes_of_claim))
            if len(claims.icn) < len(claims.claim_id):
                claims.icn.append(None)

    for sid, seg in read_segments(path):
        if sid == "HL" or sid == "SE":
            close_claim()
            in_claim = False
            level = value(seg, "HL03") if sid == "HL" else ""
        elif sid in ("ISA", "GS"):
            _envelope(sid, seg, ack.envelope)
        elif sid == "BHT" and ack.envelope.date is not None:
            ack.envelope.date = max(
                ack.envelope.date, parse_date_time(value(seg, "BHT04"), value(seg, "BHT05"))
            )
        elif sid == "TRN" and value(seg, "TRN01") == "2":
            if level == "21":
                ack.traces.append(value(seg, "TRN02"))
            elif level == "PT":
                close_claim()
                in_claim, stc, codes_of_claim = True, [], []
                claims.trace.append(ack.traces[-1] if ack.traces else "")
                claims.claim_id.append(value(seg, "TRN02"))
        elif sid == "STC" and in_claim:
            for prefix in ("STC01", "STC10", "STC11"):
                category = value(seg, f"{prefix}-1")
                if category:
                    code = ":".join(
                        v
                        for v in (category, value(seg, f"{prefix}-2"), value(seg, f"{prefix}-3"))
                        if v
                    )
                    codes_of_claim.append(code)
                    stc.append((category, value(seg, "STC03")))
        elif (
            sid == "REF"
            and in_claim
            and value(seg, "REF01") == "1K"
            and len(claims.icn) < len(claims.claim_id)
        ):
            claims.icn.append(value(seg, "REF02"))
    close_claim()
    if ack.envelope.guide != GUIDE_277CA:
        raise X12ReadError(f"GS08 is {ack.envelope.guide or 'missing'}, not {GUIDE_277CA}")
    if not ack.traces:
        raise X12ReadError("has no 2200B TRN (the trace of the 837 it answers)")
    return ack
