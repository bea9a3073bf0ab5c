"""pyx12 as the independent judge of our 837 files, and pyx12's own segment reader for round trips.

pyx12's ``x12valid`` command always exits 1, so the Python API is called: ``x12n_document`` returns
a real bool, and the errors come from its JSON error document and its "pyx12" logger. That logger
quotes segment values (member names, ids), so it is kept from propagating into pytest's captured
logs, and a failure reports error codes and texts with quoted values masked.
"""

from __future__ import annotations

import io
import json
import logging
import re
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import pyx12.params
import pyx12.x12file
import pyx12.x12n_document

from calaim_pipeline_tests.x12_claims import Claim

_QUOTED = re.compile(r"\"[^\"]*\"|'[^']*'")


# --- pyx12: the judge ---------------------------------------------------------------------------


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def _json_errors(node: Any, found: list[str]) -> list[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "errors" and value:
                found.extend(f"{e.get('err_cde')}: {e.get('err_str')}" for e in value)
            else:
                _json_errors(value, found)
    elif isinstance(node, list):
        for value in node:
            _json_errors(value, found)
    return found


def pyx12_validate(text: str) -> tuple[bool, list[str], str]:
    """(pyx12's verdict, every error it reported, the 999 it wrote)."""
    logger = logging.getLogger("pyx12")
    collect = _Collect()
    logger.addHandler(collect)
    propagate, logger.propagate = logger.propagate, False
    fd_997, fd_json = io.StringIO(), io.StringIO()
    try:
        valid = pyx12.x12n_document.x12n_document(
            param=pyx12.params.params(),
            src_file=io.StringIO(text),
            fd_997=fd_997,
            fd_html=None,
            fd_xmldoc=None,
            fd_json=fd_json,
        )
    finally:
        logger.removeHandler(collect)
        logger.propagate = propagate
    errors = _json_errors(json.loads(fd_json.getvalue() or "{}"), []) + collect.messages
    return valid, [_QUOTED.sub("'…'", e) for e in errors], fd_997.getvalue()


def assert_pyx12_accepts(text: str) -> None:
    valid, errors, ack = pyx12_validate(text)
    assert errors == []
    assert valid is True
    assert "AK9*A*" in ack  # the 999 accepts the functional group
    assert "IK5*R" not in ack and "IK5*E" not in ack


# --- reading our output back with pyx12's reader ------------------------------------------------


@dataclass
class Parsed:
    isa13: str = ""
    gs06: str = ""
    st_count: int = 0
    claim_ids: list[str] = field(default_factory=list)
    clm02: dict[str, Decimal] = field(default_factory=dict)
    line_charges: dict[str, Decimal] = field(default_factory=dict)
    line_paid: dict[str, Decimal] = field(default_factory=dict)
    line_cas: dict[str, Decimal] = field(default_factory=dict)
    amt_d: dict[str, Decimal] = field(default_factory=dict)
    ref_f8: dict[str, str] = field(default_factory=dict)
    frequency: dict[str, str] = field(default_factory=dict)
    lines: int = 0
    hl_per_st: list[int] = field(default_factory=list)
    reader_errors: list[Any] = field(default_factory=list)

    @property
    def billed(self) -> Decimal:
        return sum(self.clm02.values(), Decimal(0))

    @property
    def paid(self) -> Decimal:
        return sum(self.line_paid.values(), Decimal(0))


def parse_837(text: str) -> Parsed:
    parsed = Parsed()
    claim = ""
    in_2430 = False
    reader = pyx12.x12file.X12Reader(io.StringIO(text))
    for seg in reader:
        sid = seg.get_seg_id()
        if sid == "ISA":
            parsed.isa13 = seg.get_value("ISA13") or ""
        elif sid == "GS":
            parsed.gs06 = seg.get_value("GS06") or ""
        elif sid == "ST":
            parsed.st_count += 1
            parsed.hl_per_st.append(0)
        elif sid == "HL":
            parsed.hl_per_st[-1] += 1
            assert seg.get_value("HL01") == str(parsed.hl_per_st[-1])
        elif sid == "CLM":
            claim = seg.get_value("CLM01") or ""
            parsed.claim_ids.append(claim)
            parsed.clm02[claim] = Decimal(seg.get_value("CLM02") or "0")
            parsed.frequency[claim] = seg.get_value("CLM05-3") or ""
            for store in (parsed.line_charges, parsed.line_paid, parsed.line_cas):
                store[claim] = Decimal(0)
            in_2430 = False
        elif sid == "REF" and seg.get_value("REF01") == "F8" and claim:
            parsed.ref_f8[claim] = seg.get_value("REF02") or ""
        elif sid == "AMT" and seg.get_value("AMT01") == "D":
            parsed.amt_d[claim] = Decimal(seg.get_value("AMT02") or "0")
        elif sid == "LX":
            parsed.lines += 1
            in_2430 = False
        elif sid in ("SV1", "SV2"):
            element = "SV102" if sid == "SV1" else "SV203"
            parsed.line_charges[claim] += Decimal(seg.get_value(element) or "0")
        elif sid == "SVD":
            in_2430 = True
            parsed.line_paid[claim] += Decimal(seg.get_value("SVD02") or "0")
        elif sid == "CAS" and in_2430:
            parsed.line_cas[claim] += Decimal(seg.get_value("CAS03") or "0")
    parsed.reader_errors = reader.pop_errors()
    reader.close()
    return parsed


def assert_round_trip(text: str, claims: list[Claim]) -> Parsed:
    parsed = parse_837(text)
    assert parsed.reader_errors == []
    assert parsed.claim_ids == [c.claim_id for c in claims]
    assert parsed.lines == sum(len(c.lines) for c in claims)
    assert parsed.billed == sum((c.total_billed for c in claims), Decimal(0))
    assert parsed.paid == sum((c.total_paid for c in claims), Decimal(0))
    for claim in claims:
        cid = claim.claim_id
        # CLM02 is the sum of the claim's line charges (SV102 / SV203).
        assert parsed.clm02[cid] == parsed.line_charges[cid] == claim.total_billed
        # Line adjudication balances: charge - CAS = SVD paid; AMT*D = sum of SVD paid.
        assert parsed.line_charges[cid] - parsed.line_cas[cid] == parsed.line_paid[cid]
        assert parsed.amt_d[cid] == parsed.line_paid[cid] == claim.total_paid
        assert parsed.frequency[cid] == claim.frequency_code
        if claim.frequency_code in ("7", "8"):
            assert parsed.ref_f8[cid] == claim.original_claim_id
        else:
            assert cid not in parsed.ref_f8
    return parsed
