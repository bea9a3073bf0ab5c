"""The 837P / 837I structure as data: every segment we write, in order, with its loop, where it is
written (per file, per transaction set, per billing provider, per subscriber, per claim, per line),
when it is written, and each element's position, value, maximum length and usage.

The renderer (``renderer.py``) compiles this table into one DuckDB SQL string expression per level
and the envelope (``envelope.py``) renders the per-file and per-set segments from it in Python; the
test ``test_x12_layout.py`` holds the table against pyx12's own map XML for ``005010X222A1`` and
``005010X223A2`` (each element exists at that position, our maximum length fits, our usage is not
stricter than the guide's).

An element's ``value`` is a quoted literal (``"'85'"``) or a name the renderer or the envelope
resolves (``renderer.VALUES``, ``envelope.py``); ``ref`` is pyx12's element id (``NM103``, a
composite's part ``CLM05-3``). Parts of one composite are consecutive and are joined with ``:``;
trailing empty elements and parts are dropped, as X12 requires. ``when`` on an element names a
value that must be non-empty for the element to be written; ``when`` on a segment names a condition
(``renderer.CONDITIONS``). Usage ``R`` is required by the implementation guide, ``S`` situational.

No Dagster, no DuckDB: plain data.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Level = Literal["file", "set", "billing", "subscriber", "claim", "line"]
Transaction = Literal["837P", "837I"]
BOTH: tuple[Transaction, ...] = ("837P", "837I")
P: tuple[Transaction, ...] = ("837P",)
I: tuple[Transaction, ...] = ("837I",)  # noqa: E741


@dataclass(frozen=True, slots=True)
class Element:
    ref: str  # pyx12's id: "NM103", or "CLM05-3" for part 3 of composite CLM05
    value: str  # "'literal'" or a value name
    max_len: int
    usage: Literal["R", "S"] = "R"
    when: str | None = None  # a value name that must be non-empty (repeating HI composites)

    @property
    def position(self) -> int:
        return int(self.ref.split("-")[0][-2:])

    @property
    def part(self) -> int | None:
        return int(self.ref.split("-")[1]) if "-" in self.ref else None

    @property
    def literal(self) -> str | None:
        if self.value.startswith("'") and self.value.endswith("'"):
            return self.value[1:-1]
        return None


@dataclass(frozen=True, slots=True)
class Segment:
    loop: str  # the TR3 loop id as pyx12 names it ("2300", "ST_LOOP", "HEADER", "ISA_LOOP")
    seg_id: str
    level: Level
    elements: tuple[Element, ...]
    transactions: tuple[Transaction, ...] = BOTH
    when: str | None = None  # a condition name; None = always

    @property
    def qualifier(self) -> str | None:
        """The first element's literal: what tells this segment from its namesakes in the loop."""
        first = self.elements[0] if self.elements else None
        return first.literal if first is not None and first.position == 1 else None


def E(
    ref: str, value: str, max_len: int, usage: Literal["R", "S"] = "R", when: str | None = None
) -> Element:
    return Element(ref, value, max_len, usage, when)


def _name(prefix: str) -> tuple[Element, Element]:
    """NM103/NM104 of a person or an organisation."""
    return E("NM103", f"{prefix}_last", 60), E("NM104", f"{prefix}_first", 35, "S")


# fmt: off

LAYOUT: tuple[Segment, ...] = (
    # --- interchange and group (ISA is fixed width: the envelope pads each element to max_len) ---
    Segment("ISA_LOOP", "ISA", "file", (
        E("ISA01", "'00'", 2), E("ISA02", "blank_10", 10), E("ISA03", "'00'", 2),
        E("ISA04", "blank_10", 10), E("ISA05", "isa_sender_qualifier", 2),
        E("ISA06", "isa_sender_id", 15), E("ISA07", "isa_receiver_qualifier", 2),
        E("ISA08", "isa_receiver_id", 15), E("ISA09", "created_yymmdd", 6),
        E("ISA10", "created_hhmm", 4), E("ISA11", "'^'", 1), E("ISA12", "'00501'", 5),
        E("ISA13", "isa13", 9), E("ISA14", "acknowledgment_requested", 1),
        E("ISA15", "usage", 1), E("ISA16", "':'", 1),
    )),
    Segment("GS_LOOP", "GS", "file", (
        E("GS01", "'HC'", 2), E("GS02", "gs_sender", 15), E("GS03", "gs_receiver", 15),
        E("GS04", "created_ccyymmdd", 8), E("GS05", "created_hhmm", 4), E("GS06", "gs06", 9),
        E("GS07", "'X'", 2), E("GS08", "guide", 12),
    )),
    # --- transaction set header (Python, once per ST) ---
    Segment("ST_LOOP", "ST", "set", (
        E("ST01", "'837'", 3), E("ST02", "st02", 9), E("ST03", "guide", 35),
    )),
    Segment("HEADER", "BHT", "set", (
        E("BHT01", "'0019'", 4), E("BHT02", "'00'", 2), E("BHT03", "bht03", 30),
        E("BHT04", "created_ccyymmdd", 8), E("BHT05", "created_hhmm", 8), E("BHT06", "'RP'", 2),
    )),
    Segment("1000A", "NM1", "set", (
        E("NM101", "'41'", 3), E("NM102", "'2'", 1), E("NM103", "plan_name", 60),
        E("NM108", "'46'", 2), E("NM109", "submitter_id", 80),
    )),
    Segment("1000A", "PER", "set", (
        E("PER01", "'IC'", 2), E("PER02", "contact_name", 60), E("PER03", "'TE'", 2),
        E("PER04", "contact_phone", 256),
    )),
    Segment("1000B", "NM1", "set", (
        E("NM101", "'40'", 3), E("NM102", "'2'", 1), E("NM103", "receiver_name", 60),
        E("NM108", "'46'", 2), E("NM109", "receiver_id", 80),
    )),
    # --- 2000A billing provider (SQL, on the first claim of each billing provider's run) ---
    Segment("2000A", "HL", "billing", (
        E("HL01", "billing_hl", 12), E("HL03", "'20'", 2), E("HL04", "'1'", 1),
    )),
    Segment("2000A", "PRV", "billing", (
        E("PRV01", "'BI'", 3), E("PRV02", "'PXC'", 3), E("PRV03", "billing_taxonomy", 50),
    ), when="has_billing_taxonomy"),
    Segment("2010AA", "NM1", "billing", (
        E("NM101", "'85'", 3), E("NM102", "billing_entity", 1), *_name("billing"),
        E("NM108", "'XX'", 2), E("NM109", "billing_npi", 80),
    ), P),
    Segment("2010AA", "NM1", "billing", (  # 837I: an institution bills, no first name
        E("NM101", "'85'", 3), E("NM102", "billing_entity", 1), E("NM103", "billing_last", 60),
        E("NM108", "'XX'", 2), E("NM109", "billing_npi", 80),
    ), I),
    Segment("2010AA", "N3", "billing", (E("N301", "billing_address", 55),)),
    Segment("2010AA", "N4", "billing", (
        E("N401", "billing_city", 30), E("N402", "billing_state", 2), E("N403", "billing_zip", 15),
    )),
    Segment("2010AA", "REF", "billing", (E("REF01", "'EI'", 3), E("REF02", "billing_tax_id", 50))),
    # --- 2000B subscriber (the member is the patient) and 2010BB the destination payer ---
    Segment("2000B", "HL", "subscriber", (
        E("HL01", "subscriber_hl", 12), E("HL02", "parent_hl", 12), E("HL03", "'22'", 2),
        E("HL04", "'0'", 1),
    )),
    Segment("2000B", "SBR", "subscriber", (
        E("SBR01", "destination_payer_sequence", 1), E("SBR02", "subscriber_is_patient", 2, "S"),
        E("SBR09", "claim_filing_indicator", 2, "S"),
    )),
    Segment("2010BA", "NM1", "subscriber", (
        E("NM101", "'IL'", 3), E("NM102", "'1'", 1), *_name("member"),
        E("NM108", "'MI'", 2), E("NM109", "member_cin", 80),
    )),
    Segment("2010BA", "N3", "subscriber", (E("N301", "member_address", 55),)),
    Segment("2010BA", "N4", "subscriber", (
        E("N401", "member_city", 30), E("N402", "member_state", 2, "S"),
        E("N403", "member_zip", 15, "S"),
    )),
    Segment("2010BA", "DMG", "subscriber", (
        E("DMG01", "'D8'", 3), E("DMG02", "member_birth_date", 35), E("DMG03", "member_gender", 1),
    )),
    Segment("2010BB", "NM1", "subscriber", (
        E("NM101", "'PR'", 3), E("NM102", "'2'", 1), E("NM103", "receiver_name", 60),
        E("NM108", "'PI'", 2), E("NM109", "receiver_payer_id", 80),
    )),
    # --- 2300 claim ---
    Segment("2300", "CLM", "claim", (
        E("CLM01", "claim_id", 38), E("CLM02", "claim_billed", 18),
        E("CLM05-1", "claim_place_of_service", 2), E("CLM05-2", "'B'", 2),
        E("CLM05-3", "frequency_code", 1), E("CLM06", "'Y'", 1), E("CLM07", "'A'", 1),
        E("CLM08", "'Y'", 1), E("CLM09", "'Y'", 1),
    ), P),
    Segment("2300", "CLM", "claim", (
        E("CLM01", "claim_id", 38), E("CLM02", "claim_billed", 18),
        E("CLM05-1", "facility_type_code", 2), E("CLM05-2", "'A'", 2),
        E("CLM05-3", "frequency_code", 1), E("CLM07", "'A'", 1),
        E("CLM08", "'Y'", 1), E("CLM09", "'Y'", 1),
    ), I),
    # 837I 2300 in TR3 order: DTP*096, DTP*434, DTP*435, CL1 (then CN1, REF, HI for both).
    Segment("2300", "DTP", "claim", (
        E("DTP01", "'096'", 3), E("DTP02", "'TM'", 3), E("DTP03", "discharge_hour", 35),
    ), I, when="has_discharge_hour"),
    Segment("2300", "DTP", "claim", (
        E("DTP01", "'434'", 3), E("DTP02", "'RD8'", 3), E("DTP03", "statement_dates", 35),
    ), I),
    Segment("2300", "DTP", "claim", (
        E("DTP01", "'435'", 3), E("DTP02", "admission_date_format", 3),
        E("DTP03", "admission_date", 35),
    ), I, when="inpatient"),
    Segment("2300", "CL1", "claim", (
        E("CL101", "admission_type", 1, "S"), E("CL102", "admission_source", 1, "S"),
        E("CL103", "patient_status", 2),
    ), I),
    # CN1*05: the claim was paid under capitation or sub-capitation (payment_arrangement CAP).
    Segment("2300", "CN1", "claim", (E("CN101", "'05'", 2),), when="capitated"),
    Segment("2300", "REF", "claim", (
        E("REF01", "'G1'", 3), E("REF02", "prior_authorization", 50),
    ), when="has_prior_authorization"),
    # REF*F8: the payer claim control number of the claim a replacement or void corrects.
    Segment("2300", "REF", "claim", (
        E("REF01", "'F8'", 3), E("REF02", "payer_claim_control_number", 50),
    ), when="is_correction"),
    Segment("2300", "HI", "claim", (
        E("HI01-1", "'ABK'", 3), E("HI01-2", "dx_1", 30),
        *(e for n in range(2, 13) for e in (
            E(f"HI{n:02d}-1", "'ABF'", 3, "S", when=f"dx_{n}"), E(f"HI{n:02d}-2", f"dx_{n}", 30, "S"),
        )),
    ), P),
    Segment("2300", "HI", "claim", (E("HI01-1", "'ABK'", 3), E("HI01-2", "dx_1", 30)), I),
    Segment("2300", "HI", "claim", (
        E("HI01-1", "'ABJ'", 3), E("HI01-2", "admitting_dx", 30),
    ), I, when="has_admitting_diagnosis"),
    Segment("2300", "HI", "claim", tuple(
        e for n in range(1, 12) for e in (
            E(f"HI{n:02d}-1", "'ABF'", 3, "R" if n == 1 else "S", when=f"dx_{n + 1}"),
            E(f"HI{n:02d}-2", f"dx_{n + 1}", 30, "R" if n == 1 else "S"),
        )
    ), I, when="has_other_diagnoses"),
    Segment("2310B", "NM1", "claim", (
        E("NM101", "'82'", 3), E("NM102", "rendering_entity", 1), *_name("rendering"),
        E("NM108", "'XX'", 2, "S"), E("NM109", "rendering_npi", 80, "S"),
    ), P, when="rendering_differs"),
    Segment("2310B", "PRV", "claim", (
        E("PRV01", "'PE'", 3), E("PRV02", "'PXC'", 3), E("PRV03", "rendering_taxonomy", 50),
    ), P, when="has_rendering_taxonomy"),
    Segment("2310A", "NM1", "claim", (
        E("NM101", "'71'", 3), E("NM102", "'1'", 1), *_name("attending"),
        E("NM108", "'XX'", 2, "S"), E("NM109", "attending_npi", 80, "S"),
    ), I),
    Segment("2310A", "PRV", "claim", (
        E("PRV01", "'AT'", 3), E("PRV02", "'PXC'", 3), E("PRV03", "attending_taxonomy", 50),
    ), I, when="has_attending_taxonomy"),
    # --- 2320 / 2330A / 2330B: the plan as the payer that adjudicated the encounter ---
    Segment("2320", "SBR", "claim", (
        E("SBR01", "plan_payer_sequence", 1), E("SBR02", "subscriber_is_patient", 2),
        E("SBR09", "claim_filing_indicator", 2, "S"),
    )),
    Segment("2320", "AMT", "claim", (E("AMT01", "'D'", 3), E("AMT02", "claim_paid", 18))),
    Segment("2320", "OI", "claim", (E("OI03", "'Y'", 1), E("OI06", "'Y'", 1))),
    Segment("2330A", "NM1", "claim", (
        E("NM101", "'IL'", 3), E("NM102", "'1'", 1), *_name("member"),
        E("NM108", "'MI'", 2), E("NM109", "member_cin", 80),
    )),
    Segment("2330B", "NM1", "claim", (
        E("NM101", "'PR'", 3), E("NM102", "'2'", 1), E("NM103", "plan_name", 60),
        E("NM108", "'PI'", 2), E("NM109", "plan_payer_id", 80),
    )),
    # --- 2400 service line and 2430 the plan's adjudication of it ---
    Segment("2400", "LX", "line", (E("LX01", "lx", 6),)),
    Segment("2400", "SV1", "line", (
        E("SV101-1", "procedure_qualifier", 2), E("SV101-2", "procedure_code", 48),
        E("SV101-3", "modifier_1", 2, "S"), E("SV101-4", "modifier_2", 2, "S"),
        E("SV101-5", "modifier_3", 2, "S"), E("SV101-6", "modifier_4", 2, "S"),
        E("SV102", "line_billed", 18), E("SV103", "'UN'", 2), E("SV104", "units", 15),
        E("SV105", "line_place_of_service", 2, "S"),
        E("SV107-1", "pointer_1", 2), E("SV107-2", "pointer_2", 2, "S"),
        E("SV107-3", "pointer_3", 2, "S"), E("SV107-4", "pointer_4", 2, "S"),
    ), P),
    Segment("2400", "SV2", "line", (
        E("SV201", "revenue_code", 48), E("SV202-1", "procedure_qualifier", 2, "S"),
        E("SV202-2", "procedure_code", 48, "S"), E("SV202-3", "modifier_1", 2, "S"),
        E("SV202-4", "modifier_2", 2, "S"), E("SV202-5", "modifier_3", 2, "S"),
        E("SV202-6", "modifier_4", 2, "S"), E("SV203", "line_billed", 18),
        E("SV204", "'UN'", 2), E("SV205", "units", 15),
    ), I),
    Segment("2400", "DTP", "line", (
        E("DTP01", "'472'", 3), E("DTP02", "service_date_format", 3),
        E("DTP03", "service_dates", 35),
    )),
    Segment("2400", "REF", "line", (E("REF01", "'6R'", 3), E("REF02", "line_number", 50))),
    Segment("2430", "SVD", "line", (
        E("SVD01", "plan_payer_id", 80), E("SVD02", "line_paid", 18),
        E("SVD03-1", "procedure_qualifier", 2), E("SVD03-2", "procedure_code", 48),
        E("SVD03-3", "modifier_1", 2, "S"), E("SVD03-4", "modifier_2", 2, "S"),
        E("SVD03-5", "modifier_3", 2, "S"), E("SVD03-6", "modifier_4", 2, "S"),
        E("SVD05", "units", 15),
    ), P),
    Segment("2430", "SVD", "line", (  # 837I: the revenue code, and the procedure when there is one
        E("SVD01", "plan_payer_id", 80), E("SVD02", "line_paid", 18),
        E("SVD03-1", "procedure_qualifier", 2, "S"), E("SVD03-2", "procedure_code", 48, "S"),
        E("SVD03-3", "modifier_1", 2, "S"), E("SVD03-4", "modifier_2", 2, "S"),
        E("SVD03-5", "modifier_3", 2, "S"), E("SVD03-6", "modifier_4", 2, "S"),
        E("SVD04", "revenue_code", 48), E("SVD05", "units", 15),
    ), I),
    Segment("2430", "CAS", "line", (
        E("CAS01", "adjustment_group", 2), E("CAS02", "adjustment_reason", 5),
        E("CAS03", "adjustment_amount", 18),
    ), when="adjusted"),
    Segment("2430", "DTP", "line", (
        E("DTP01", "'573'", 3), E("DTP02", "'D8'", 3), E("DTP03", "line_paid_date", 35),
    )),
    # --- trailers ---
    Segment("ST_LOOP", "SE", "set", (E("SE01", "segment_count", 10), E("SE02", "st02", 9))),
    Segment("GS_LOOP", "GE", "file", (E("GE01", "transaction_sets", 6), E("GE02", "gs06", 9))),
    Segment("ISA_LOOP", "IEA", "file", (E("IEA01", "'1'", 5), E("IEA02", "isa13", 9))),
)
# fmt: on


def segments(transaction: str, level: Level) -> tuple[Segment, ...]:
    return tuple(s for s in LAYOUT if s.level == level and transaction in s.transactions)


def segment(transaction: str, seg_id: str, loop: str, qualifier: str | None = None) -> Segment:
    for s in LAYOUT:
        if (
            transaction in s.transactions
            and (s.seg_id, s.loop) == (seg_id, loop)
            and (qualifier is None or s.qualifier == qualifier)
        ):
            return s
    raise KeyError(f"{transaction} {loop} {seg_id} {qualifier or ''}")


def max_len(
    transaction: str, seg_id: str, loop: str, ref: str, qualifier: str | None = None
) -> int:
    """The layout's maximum length of one element: what checks and truncation use."""
    for e in segment(transaction, seg_id, loop, qualifier).elements:
        if e.ref == ref:
            return e.max_len
    raise KeyError(ref)
