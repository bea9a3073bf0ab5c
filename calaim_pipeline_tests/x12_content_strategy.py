"""The property test's strategy for the 837 content of issue #14 (valid values only)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from hypothesis import strategies as st

ADMISSION_TYPES, ORIGINS = ("1", "2", "3", "4", "5", "9"), ("1", "2", "4", "5", "6", "8", "9", "D")
STATUSES = ("01", "02", "03", "06", "07", "20", "62", "65")


@st.composite
def random_content(
    draw: st.DrawFn, transaction: str, inpatient: bool, lines: list[Any]
) -> dict[str, Any]:
    """Valid content for one claim: admission codes, hours and a statement period that contains
    its lines (837I), a payment arrangement and a prior authorization (both types)."""
    content: dict[str, Any] = {
        "payment_arrangement": draw(st.sampled_from((None, "FFS", "CAP"))),
        "prior_authorization_number": draw(
            st.one_of(st.none(), st.from_regex(r"[A-Za-z0-9-]{1,50}", fullmatch=True))
        ),
    }
    if transaction != "837I":
        return content
    first = min(line.service_from for line in lines)
    last = max(line.service_to or line.service_from for line in lines)
    if draw(st.booleans()):
        content["statement_from_date"] = first - timedelta(days=draw(st.integers(0, 3)))
        content["statement_to_date"] = last + timedelta(days=draw(st.integers(0, 3)))
    hour = st.from_regex(r"([01][0-9]|2[0-3])([0-5][0-9])?", fullmatch=True)
    if inpatient:
        content |= {
            "admitting_diagnosis": draw(st.sampled_from(("R079", "J18.9", "I10"))),
            "admission_type_code": draw(st.sampled_from(ADMISSION_TYPES)),
            "admission_source_code": draw(st.sampled_from(ORIGINS)),
            "patient_status_code": draw(st.sampled_from(STATUSES)),
            "admission_hour": draw(st.one_of(st.none(), hour)),
            "discharge_hour": draw(st.one_of(st.none(), hour)),
        }
    elif draw(st.booleans()):
        content |= {"admission_source_code": draw(st.sampled_from(ORIGINS)),
                    "patient_status_code": "01"}  # fmt: skip
    return content
