"""The small sequential parts of an 837 file, in Python: ISA/GS (once per file), ST/BHT/1000A/1000B
and SE (once per transaction set of up to 5,000 claims), GE/IEA. Rendered from the layout table.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Literal

from calaim_pipeline.settings import Plan, Receiver
from calaim_pipeline.submission.control import ControlNumbers
from calaim_pipeline.submission.x12 import layout
from calaim_pipeline.submission.x12.text import clean_text

IMPLEMENTATION_GUIDE: dict[str, str] = {"837P": "005010X222A1", "837I": "005010X223A2"}
TRANSACTION_FOR_CLAIM_TYPE: dict[str, layout.Transaction] = {"P": "837P", "I": "837I"}
CLAIMS_PER_TRANSACTION_SET = 5000  # TR3 1.4.1: no more than 5,000 CLM segments per ST-SE
ACKNOWLEDGMENT_REQUESTED = "0"  # ISA14: no TA1; DHCS answers with a 999 anyway
SET_HEADER_SEGMENTS = 5  # ST, BHT, NM1*41, PER, NM1*40


def render_segment(segment: layout.Segment, values: dict[str, str], *, fixed: bool = False) -> str:
    """One segment from the layout and resolved values; ``fixed`` pads every element to its
    maximum length (ISA). Trailing empty elements and composite parts are dropped."""
    elements: dict[int, list[tuple[int, str]]] = {}
    for e in segment.elements:
        value = e.literal if e.literal is not None else values[e.value]
        if e.when is not None and not values.get(e.when):
            value = ""
        if fixed:
            value = value.ljust(e.max_len)
        elements.setdefault(e.position, []).append((e.part or 1, value))
    texts = []
    for position in range(1, max(elements) + 1):
        parts = dict(elements.get(position, []))
        joined = ":".join(parts.get(n, "") for n in range(1, max(parts, default=0) + 1))
        texts.append(joined if fixed else joined.rstrip(":"))
    text = "*".join([segment.seg_id, *texts])
    return (text if fixed else text.rstrip("*")) + "~\n"


def _envelope_id(value: str, what: str, max_len: int) -> str:
    if not value or len(value) > max_len or not re.fullmatch(r"[A-Z0-9 .\-]+", value.upper()):
        raise ValueError(f"{what} {value!r} is not 1-{max_len} characters of A-Z, 0-9, space . -")
    return value.upper()


def check_transaction(transaction: str, claims_per_transaction_set: int) -> None:
    if transaction not in IMPLEMENTATION_GUIDE:
        raise ValueError(f"transaction must be 837P or 837I, not {transaction!r}")
    if not 1 <= claims_per_transaction_set <= CLAIMS_PER_TRANSACTION_SET:
        raise ValueError(f"claims_per_transaction_set must be 1-{CLAIMS_PER_TRANSACTION_SET}")


def envelope_values(
    transaction: str,
    plan: Plan,
    receiver: Receiver,
    control: ControlNumbers,
    created: datetime,
    usage: Literal["P", "T"] = "P",
) -> dict[str, str]:
    """Every envelope and header value name of the layout, resolved."""
    check_transaction(transaction, 1)
    return {
        "blank_10": "",
        "isa_sender_qualifier": plan.isa_sender_qualifier,
        "isa_sender_id": _envelope_id(plan.isa_sender_id, "isa_sender_id", 15),
        "isa_receiver_qualifier": receiver.isa_qualifier,
        "isa_receiver_id": _envelope_id(receiver.isa_receiver_id, "receiver isa_receiver_id", 15),
        "gs_receiver": _envelope_id(receiver.gs_receiver_code, "receiver gs_receiver_code", 15),
        "receiver_id": _envelope_id(
            receiver.submitter_receiver_id, "receiver submitter_receiver_id", 80
        ),
        "gs_sender": _envelope_id(plan.gs_sender_code, "gs_sender_code", 15),
        "submitter_id": _envelope_id(plan.submitter_id, "submitter_id", 80),
        "created_yymmdd": created.strftime("%y%m%d"),
        "created_ccyymmdd": created.strftime("%Y%m%d"),
        "created_hhmm": created.strftime("%H%M"),
        "isa13": control.isa13,
        "gs06": control.gs06,
        "acknowledgment_requested": ACKNOWLEDGMENT_REQUESTED,
        "usage": usage,
        "guide": IMPLEMENTATION_GUIDE[transaction],
        "plan_name": clean_text(plan.name, 60),
        "contact_name": clean_text(plan.contact_name, 60),
        "contact_phone": plan.contact_phone,
        "receiver_name": clean_text(receiver.name, 60),
    }


def _level(transaction: str, level: layout.Level, seg_ids: tuple[str, ...]) -> list[layout.Segment]:
    return [s for s in layout.segments(transaction, level) if s.seg_id in seg_ids]


def head(transaction: str, values: dict[str, str]) -> str:
    """ISA and GS."""
    isa, gs = _level(transaction, "file", ("ISA", "GS"))
    return render_segment(isa, values, fixed=True) + render_segment(gs, values)


def set_header(transaction: str, values: dict[str, str], number: int) -> str:
    """ST, BHT and the submitter (1000A) and receiver (1000B) names of set ``number``."""
    st02 = f"{number:04d}"
    values = {**values, "st02": st02, "bht03": f"{values['isa13']}{st02}"}
    return "".join(
        render_segment(s, values) for s in layout.segments(transaction, "set") if s.seg_id != "SE"
    )


def set_trailer(transaction: str, number: int, segment_count: int) -> str:
    """SE: the set's segment count, ST and SE included."""
    (se,) = _level(transaction, "set", ("SE",))
    return render_segment(se, {"segment_count": str(segment_count), "st02": f"{number:04d}"})


def tail(transaction: str, values: dict[str, str], transaction_sets: int) -> str:
    """GE and IEA."""
    ge, iea = _level(transaction, "file", ("GE", "IEA"))
    values = {**values, "transaction_sets": str(transaction_sets)}
    return render_segment(ge, values) + render_segment(iea, values)
