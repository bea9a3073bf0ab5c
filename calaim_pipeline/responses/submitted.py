"""Our own 837 files read back with pyx12's reader: what a 999 and a 277CA answer.

Only what a response echoes or needs is kept: control numbers, each transaction set's BHT03, and
per claim its CLM01, frequency, charge, billing provider, patient name/id and service dates. The
patient values go into the simulated 277CA (as DHCS's would) and nowhere else.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from calaim_pipeline.responses.x12 import read_segments, value


@dataclass
class SubmittedClaim:
    claim_id: str
    frequency: str
    charge: str
    billing_name: str
    billing_npi: str
    patient_last: str
    patient_first: str
    patient_id: str
    service_from: str = ""
    service_to: str = ""

    def add_dates(self, qualifier: str, text: str) -> None:
        first, _, last = text.partition("-")
        last = last or first
        if qualifier in ("D8", "RD8") and first:
            self.service_from = min(self.service_from or first, first)
            self.service_to = max(self.service_to or last, last)


@dataclass
class SubmittedSet:
    st02: str
    bht03: str
    submitter_name: str = ""
    submitter_id: str = ""
    claims: list[SubmittedClaim] = field(default_factory=list)


@dataclass
class SubmittedFile:
    path: Path
    isa_sender_qualifier: str = ""
    isa_sender: str = ""
    isa_receiver_qualifier: str = ""
    isa_receiver: str = ""
    isa13: str = ""
    gs06: str = ""
    gs_sender: str = ""
    gs_receiver: str = ""
    guide: str = ""
    receiver_name: str = ""
    sets: list[SubmittedSet] = field(default_factory=list)

    @property
    def claims(self) -> list[SubmittedClaim]:
        return [claim for tx in self.sets for claim in tx.claims]


def read_837(path: Path) -> SubmittedFile:
    """The facts of one of our 837 files that its responses answer or echo."""
    sub = SubmittedFile(path)
    billing = ("", "")
    patient = ("", "", "")
    claim: SubmittedClaim | None = None
    in_claim_patient = False
    for sid, seg in read_segments(path):
        if sid == "ISA":
            sub.isa_sender_qualifier = value(seg, "ISA05")
            sub.isa_sender = value(seg, "ISA06").strip()
            sub.isa_receiver_qualifier = value(seg, "ISA07")
            sub.isa_receiver = value(seg, "ISA08").strip()
            sub.isa13 = value(seg, "ISA13")
        elif sid == "GS":
            sub.gs06, sub.guide = value(seg, "GS06"), value(seg, "GS08")
            sub.gs_sender, sub.gs_receiver = value(seg, "GS02"), value(seg, "GS03")
        elif sid == "ST":
            sub.sets.append(SubmittedSet(value(seg, "ST02"), ""))
            claim = None
        elif sid == "BHT":
            sub.sets[-1].bht03 = value(seg, "BHT03")
        elif sid == "HL":
            claim, in_claim_patient = None, False
        elif sid == "NM1":
            qualifier = value(seg, "NM101")
            if qualifier == "41":
                sub.sets[-1].submitter_name = value(seg, "NM103")
                sub.sets[-1].submitter_id = value(seg, "NM109")
            elif qualifier == "40":
                sub.receiver_name = value(seg, "NM103")
            elif qualifier == "85" and claim is None:
                billing = (value(seg, "NM103"), value(seg, "NM109"))
            elif qualifier in ("IL", "QC") and claim is None and not in_claim_patient:
                patient = (value(seg, "NM103"), value(seg, "NM104"), value(seg, "NM109"))
        elif sid == "CLM":
            claim = SubmittedClaim(
                claim_id=value(seg, "CLM01"),
                frequency=value(seg, "CLM05-3"),
                charge=value(seg, "CLM02"),
                billing_name=billing[0],
                billing_npi=billing[1],
                patient_last=patient[0],
                patient_first=patient[1],
                patient_id=patient[2],
            )
            in_claim_patient = True  # later NM1*IL belong to other-subscriber loops
            sub.sets[-1].claims.append(claim)
        elif sid == "DTP" and claim is not None and value(seg, "DTP01") in ("472", "434"):
            claim.add_dates(value(seg, "DTP02"), value(seg, "DTP03"))
    return sub
