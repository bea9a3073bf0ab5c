"""Hand-built claims with the 837 content of issue #14 (admission data, statement period, capitation,
prior authorization); the property test's strategy for that content is x12_content_strategy.py."""

from __future__ import annotations

from datetime import date, timedelta

from calaim_pipeline_tests.test_x12_837 import (
    ATTENDING,
    CLINIC,
    CM_ORG,
    DOCTOR,
    HOSPITAL,
    iline,
    member,
    pline,
)
from calaim_pipeline_tests.x12_claims import Claim

ADMIT = date(2026, 9, 2)


def content_professional_claims() -> list[Claim]:
    maria = member()
    return [
        # A sub-capitated Community Supports claim with a prior authorization: $0 paid.
        Claim(
            "P-3001",
            "1",
            maria,
            CM_ORG,
            ("Z5900",),
            (pline(1, "T2033", ("U6",), pos="16", units="2", billed="300.00", paid="0.00"),),
            rendering=CM_ORG,
            content={"payment_arrangement": "CAP", "prior_authorization_number": "CS-00012345"},
        ),
        # Fee for service, one line paid $0 (a FFS_LINE_PAID_ZERO warning in validation).
        Claim(
            "P-3002",
            "1",
            maria,
            CLINIC,
            ("E119",),
            (
                pline(1, "99213", billed="120.00", paid="85.00"),
                pline(2, "36415", billed="20.00", paid="0.00"),
            ),
            rendering=DOCTOR,
            content={"payment_arrangement": "FFS"},
        ),
    ]


def content_institutional_claims() -> list[Claim]:
    tomas = member("98765432C", last_name="Lopez", first_name="Tomas", gender="M")
    return [
        # Inpatient stay with every admission field, hours and an explicit statement period.
        Claim(
            "I-3001",
            "1",
            tomas,
            HOSPITAL,
            ("J189", "I10"),
            (
                iline(
                    1,
                    "0120",
                    units="3",
                    billed="3000.00",
                    paid="2400.00",
                    start=ADMIT,
                    end=ADMIT + timedelta(days=3),
                ),
                iline(2, "0300", billed="90.00", paid="70.00", start=ADMIT),
            ),
            attending=ATTENDING,
            facility_type_code="11",
            admission_date=ADMIT,
            discharge_date=ADMIT + timedelta(days=3),
            content={
                "admitting_diagnosis": "R07.9",
                "admission_type_code": "1",
                "admission_source_code": "2",
                "patient_status_code": "06",
                "admission_hour": "07",
                "discharge_hour": "1530",
                "statement_from_date": date(2026, 9, 1),
                "statement_to_date": date(2026, 9, 5),
                "prior_authorization_number": "PA000123",
            },
        ),
        # Outpatient ER visit with point of origin and status, paid under capitation.
        Claim(
            "I-3002",
            "1",
            tomas,
            HOSPITAL,
            ("R079",),
            (iline(1, "0450", "99284", billed="900.00", paid="0.00"),),
            attending=ATTENDING,
            facility_type_code="13",
            content={
                "admission_source_code": "1",
                "patient_status_code": "01",
                "payment_arrangement": "CAP",
            },
        ),
    ]
