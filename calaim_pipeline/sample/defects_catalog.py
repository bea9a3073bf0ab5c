"""The catalog of defect kinds the sample injects: one entry per rule it trips, with the variants
(which field, which claim type, which member) that break a clean claim that way. The machinery
(Variant, DefectKind, the appliers) is in defects.py; the inpatient and capitated kinds of issue
14 are in defects_content.py."""

from __future__ import annotations

from . import identifiers as ids
from .claims import COL
from .defects import (
    DUPLICATE_LINE_IN_MONTH,
    I_,
    ROW_UNPARSEABLE,
    DefectKind,
    P,
    Variant,
    _all,
    _bad_calendar_date,
    _bad_taxonomy,
    _billed_negative,
    _billing_taxonomy_bad,
    _broken_directory_row,
    _broken_span,
    _cin_excluded_letter,
    _cin_short,
    _copy_line,
    _corrupt_claim_npi,
    _dedicated_attr,
    _disagree_diagnosis,
    _disagree_received,
    _disagree_taxonomy,
    _ecm_no_modifier,
    _ended_span,
    _incomplete_billing,
    _line_number_duplicate,
    _modifier_bad,
    _non_billable_dx,
    _off_directory,
    _original_missing,
    _other_plan,
    _paid_over_365,
    _paid_over_billed,
    _paid_three_decimals,
    _pointer_absent,
    _received_after_paid,
    _service_after_paid,
    _set_claim,
    _set_line,
    _telehealth_without_modifier,
    _to_before_from,
    _units_over_bound,
    _unparseable_byte,
    _unparseable_extra_field,
    _us_received,
    _with_rows,
)
from .people import ENROLL_START
from .vocab import INVALID_POS, NON_BILLABLE_DX, UNKNOWN_DX

_V = Variant
_REQ = "REQ_FIELD_MISSING"

DEFECT_KINDS: tuple[DefectKind, ...] = (
    DefectKind(
        _REQ,
        "reject",
        (
            _V("billing_taxonomy", _set_claim("billing_taxonomy", "")),
            _V("rendering_taxonomy", _set_line("rendering_taxonomy", ""), P),
            _V("attending_npi", _set_claim("attending_npi", ""), I_),
            _V("received_date", _set_claim("received_date", "")),
            _V("place_of_service", _set_line("place_of_service", ""), P),
            _V("revenue_code", _set_line("revenue_code", ""), I_),
            _V("billed_amount", _set_line("billed_amount", "")),
            _V("diagnosis_pointers", _set_line("diagnosis_pointers", ""), P),
            _V("facility_type_code", _set_claim("facility_type_code", ""), I_),
            _V("paid_date", _set_claim("paid_date", "")),
            _V("procedure_code", _set_line("procedure_code", ""), P),
            _V("admission_date", _set_claim("admission_date", ""), ("IP",)),
            _V("paid_amount", _set_line("paid_amount", "")),
            _V("rendering_npi", _set_line("rendering_npi", ""), P),
            _V("diagnosis_1", _set_claim("diagnosis_1", ""), I_),
        ),
    ),
    DefectKind("PLAN_CODE_MISMATCH", "reject", (_V("other_plan", _other_plan),)),
    DefectKind(
        "CLAIM_ID_FORMAT",
        "reject",
        (
            _V(
                "underscores",
                lambda e, c, r: _set_claim("claim_id", c.claim_id.replace("-", "_"))(e, c, r),
            ),
            _V(
                "too_long",
                lambda e, c, r: _set_claim("claim_id", c.claim_id + "-" + "X" * 20)(e, c, r),
            ),
        ),
    ),
    DefectKind(
        "CLAIM_TYPE_INVALID",
        "reject",
        (
            _V("X", _set_claim("claim_type", "X")),
            _V("D", _set_claim("claim_type", "D")),
        ),
    ),
    DefectKind(
        "FREQUENCY_CODE_INVALID",
        "reject",
        (
            _V("2", _set_claim("frequency_code", "2")),
            _V("9", _set_claim("frequency_code", "9")),
        ),
    ),
    DefectKind(
        "CIN_FORMAT",
        "reject",
        (
            _V("excluded_letter", _cin_excluded_letter),
            _V("eight_chars", _cin_short),
        ),
    ),
    DefectKind(
        "BILLING_NPI_INVALID", "reject", (_V("check_digit", _corrupt_claim_npi("billing_npi")),)
    ),
    DefectKind(
        "RENDERING_NPI_INVALID",
        "reject",
        (
            _V(
                "check_digit",
                _set_line(
                    "rendering_npi", lambda e, c, row: ids.corrupt_npi(row[COL["rendering_npi"]])
                ),
                P,
            ),
        ),
    ),
    DefectKind(
        "ATTENDING_NPI_INVALID",
        "reject",
        (_V("check_digit", _corrupt_claim_npi("attending_npi"), I_),),
    ),
    DefectKind(
        "TAXONOMY_FORMAT",
        "reject",
        (
            _V("billing", _billing_taxonomy_bad),
            _V(
                "rendering",
                _set_line(
                    "rendering_taxonomy",
                    lambda e, c, row: _bad_taxonomy(row[COL["rendering_taxonomy"]], e),
                ),
                P,
            ),
        ),
    ),
    DefectKind(
        "PROCEDURE_CODE_FORMAT",
        "reject",
        tuple(_V(v, _set_line("procedure_code", v), P) for v in ("99X13", "9921", "G90081")),
    ),
    DefectKind(
        "MODIFIER_FORMAT", "reject", tuple(_V(v, _modifier_bad(v), P) for v in ("XYZ", "A"))
    ),
    DefectKind(
        "POS_INVALID",
        "reject",
        tuple(_V(v, _set_line("place_of_service", v), P) for v in INVALID_POS),
    ),
    DefectKind(
        "REVENUE_CODE_INVALID",
        "reject",
        tuple(_V(v, _set_line("revenue_code", v), I_) for v in ("1234", "0012")),
    ),
    DefectKind(
        "FACILITY_TYPE_INVALID",
        "reject",
        tuple(_V(v, _set_claim("facility_type_code", v), ("OP",)) for v in ("90", "10")),
    ),
    DefectKind(
        "LINE_NUMBER_INVALID",
        "reject",
        (
            _V("x", _set_line("line_number", "x")),
            _V("zero", _set_line("line_number", "0")),
            _V("51_professional", _set_line("line_number", "51"), P),
            _V("1000_institutional", _set_line("line_number", "1000"), I_),
        ),
    ),
    DefectKind(
        "GENDER_INVALID",
        "reject",
        (
            _V("X", _dedicated_attr("gender", "X"), member="dedicated"),
            _V("empty", _dedicated_attr("gender", ""), member="dedicated"),
        ),
    ),
    DefectKind(
        "COUNTY_INVALID",
        "reject",
        tuple(_V(v, _dedicated_attr("county", v), member="dedicated") for v in ("00", "59", "99")),
    ),
    DefectKind(
        "ICD10_NOT_BILLABLE",
        "reject",
        (
            _V("category", _non_billable_dx(NON_BILLABLE_DX)),
            _V("unknown", _non_billable_dx(UNKNOWN_DX)),
        ),
    ),
    DefectKind(
        "DATE_UNPARSEABLE",
        "reject",
        (
            _V("service_to_calendar", _set_line("service_to_date", _bad_calendar_date)),
            _V("received_us_format", _with_rows(_us_received)),
        ),
    ),
    DefectKind(
        "DATE_IN_FUTURE",
        "reject",
        (
            _V("service_to", _set_line("service_to_date", "2099-01-01"), P),
            _V("discharge", _set_claim("discharge_date", "2099-01-01"), ("IP",)),
        ),
    ),
    DefectKind(
        "SERVICE_TO_BEFORE_FROM",
        "reject",
        (_V("to_before_from", _set_line("service_to_date", _to_before_from)),),
    ),
    DefectKind(
        "SERVICE_AFTER_PAID",
        "reject",
        (_V("from_after_paid", _service_after_paid, P, member="dedicated", paid="early"),),
    ),
    DefectKind(
        "RECEIVED_AFTER_PAID",
        "reject",
        (_V("received_after_paid", _with_rows(_received_after_paid), paid="early"),),
    ),
    DefectKind(
        "PAID_OUTSIDE_MONTH",
        "reject",
        (_V("paid_last_month", lambda e, c, r: _all(r), paid="before"),),
    ),
    DefectKind(
        "UNITS_INVALID",
        "reject",
        (
            _V("zero", _set_line("units", "0")),
            _V("negative", _set_line("units", "-1")),
        ),
    ),
    DefectKind(
        "AMOUNT_INVALID",
        "reject",
        (
            _V("billed_negative", _set_line("billed_amount", _billed_negative)),
            _V("paid_three_decimals", _set_line("paid_amount", _paid_three_decimals)),
        ),
    ),
    DefectKind(
        "CLAIM_FIELDS_DISAGREE",
        "reject",
        (
            _V("billing_taxonomy", _disagree_taxonomy, min_lines=2),
            _V("received_date", _disagree_received, min_lines=2),
            _V("extra_diagnosis", _disagree_diagnosis, min_lines=2),
        ),
    ),
    DefectKind(
        "LINE_NUMBER_DUPLICATE", "reject", (_V("repeat", _line_number_duplicate, min_lines=2),)
    ),
    DefectKind(
        "DX_POINTER_INVALID",
        "reject",
        (
            _V("absent", _set_line("diagnosis_pointers", _pointer_absent), P),
            _V("malformed", _set_line("diagnosis_pointers", "x"), P),
        ),
    ),
    DefectKind(
        "ECM_CS_MODIFIER_MISSING",
        "reject",
        (
            _V("no_modifier", _ecm_no_modifier(False), ("ECM", "CS")),
            _V("wrong_modifier", _ecm_no_modifier(True), ("ECM", "CS")),
        ),
    ),
    DefectKind(
        "ORIGINAL_CLAIM_MISSING",
        "reject",
        (
            _V("replacement", _original_missing("7")),
            _V("void", _original_missing("8")),
        ),
        after_first_month=True,
    ),
    DefectKind(
        "MEMBER_NOT_ENROLLED",
        "reject",
        (
            _V("off_roster", lambda e, c, r: _all(r), member="off_roster"),
            _V("span_ended", _ended_span, member="dedicated"),
        ),
    ),
    DefectKind(
        "BILLING_PROVIDER_UNKNOWN",
        "reject",
        (
            _V("off_directory", _off_directory),
            _V("zip5", _incomplete_billing(0)),
            _V("no_tax_id", _incomplete_billing(1)),
            _V("short_tax_id", _incomplete_billing(2)),
        ),
    ),
    DefectKind(
        "MEMBER_ON_REJECTED_ROSTER_ROW",
        "reject",
        (
            _V("start_not_a_date", _broken_span("2020-02-30", ""), member="dedicated"),
            _V("end_not_a_date", _broken_span(ENROLL_START, "12/31/2099"), member="dedicated"),
        ),
    ),
    DefectKind(
        "BILLING_PROVIDER_ON_REJECTED_ROSTER_ROW",
        "reject",
        (_V("directory_row_field_count", _broken_directory_row),),
    ),
    DefectKind(DUPLICATE_LINE_IN_MONTH, "reject", (_V("copy", _copy_line),), copies_line=True),
    DefectKind(
        ROW_UNPARSEABLE,
        "reject",
        (
            _V("extra_field", _unparseable_extra_field, min_lines=2),
            _V("bad_utf8", _unparseable_byte, min_lines=2),
        ),
        csv_only=True,
    ),
    DefectKind(
        "TELEHEALTH_MODIFIER_MISSING", "warn", (_V("no_modifier", _telehealth_without_modifier, P),)
    ),
    DefectKind(
        "PAID_EXCEEDS_BILLED",
        "warn",
        (_V("overpaid", _set_line("paid_amount", _paid_over_billed)),),
    ),
    DefectKind(
        "UNITS_ABOVE_BOUND", "warn", (_V("units", _set_line("units", _units_over_bound), P),)
    ),
    DefectKind(
        "PAID_OVER_365_DAYS", "warn", (_V("old_service", _paid_over_365, P, member="dedicated"),)
    ),
)
