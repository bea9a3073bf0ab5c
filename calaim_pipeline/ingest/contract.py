"""The input contract (extract-contract.md) as data: columns, which are required, which are dates."""

from __future__ import annotations

DIAGNOSIS_COLUMNS = tuple(f"diagnosis_{i}" for i in range(1, 13))
MODIFIER_COLUMNS = tuple(f"modifier_{i}" for i in range(1, 5))

# Optional claim-level columns added for DHCS-grade 837 content (issue #14), after paid_amount: a
# file without them stays valid. 837I statement period, admission and discharge (HI*ABJ, CL1,
# DTP*434/435/096); then, for both claim types, payment_arrangement (FFS or CAP) and the prior
# authorization number (REF*G1).
INSTITUTIONAL_CLAIM_COLUMNS: tuple[str, ...] = (
    "admitting_diagnosis",
    "admission_type_code",
    "admission_source_code",
    "patient_status_code",
    "admission_hour",
    "discharge_hour",
    "statement_from_date",
    "statement_to_date",
)

ENCOUNTER_COLUMNS: tuple[str, ...] = (
    "plan_code",
    "claim_id",
    "claim_type",
    "frequency_code",
    "original_claim_id",
    "member_cin",
    "billing_npi",
    "billing_taxonomy",
    "rendering_npi",
    "rendering_taxonomy",
    "attending_npi",
    "facility_type_code",
    "admission_date",
    "discharge_date",
    *DIAGNOSIS_COLUMNS,
    "received_date",
    "paid_date",
    "line_number",
    "service_from_date",
    "service_to_date",
    "procedure_code",
    *MODIFIER_COLUMNS,
    "revenue_code",
    "place_of_service",
    "diagnosis_pointers",
    "units",
    "billed_amount",
    "paid_amount",
    *INSTITUTIONAL_CLAIM_COLUMNS,
    "payment_arrangement",
    "prior_authorization_number",
)
# Claim-level columns that are optional in a file (their header may be absent).
OPTIONAL_CLAIM_COLUMNS: tuple[str, ...] = ENCOUNTER_COLUMNS[
    ENCOUNTER_COLUMNS.index("paid_amount") + 1 :
]
# Diagnosis-like columns: ICD-10-CM codes, upper-cased without the dot when read.
ICD10_COLUMNS: tuple[str, ...] = (*DIAGNOSIS_COLUMNS, "admitting_diagnosis")
# Inpatient 837I claims need these (INPATIENT_ADMISSION_MISSING): admitting diagnosis (HI*ABJ),
# priority of admission (CL101), point of origin (CL102) and discharge status (CL103).
INPATIENT_REQUIRED: tuple[str, ...] = INSTITUTIONAL_CLAIM_COLUMNS[:4]

# Required on every line; a file whose header lacks one of these cannot be judged at all, so the
# partition fails naming the file and the column.
ALWAYS_REQUIRED: tuple[str, ...] = (
    "plan_code",
    "claim_id",
    "claim_type",
    "frequency_code",
    "member_cin",
    "billing_npi",
    "billing_taxonomy",
    "diagnosis_1",
    "received_date",
    "paid_date",
    "line_number",
    "service_from_date",
    "units",
    "billed_amount",
    "paid_amount",
)
REQUIRED_FOR_PROFESSIONAL: tuple[str, ...] = (
    "rendering_npi",
    "rendering_taxonomy",
    "procedure_code",
    "place_of_service",
    "diagnosis_pointers",
)
REQUIRED_FOR_INSTITUTIONAL: tuple[str, ...] = (
    "attending_npi",
    "facility_type_code",
    "revenue_code",
)

# Claim-level fields repeat on every line and must agree (CLAIM_FIELDS_DISAGREE).
CLAIM_LEVEL_COLUMNS: tuple[str, ...] = (
    "plan_code",
    "claim_type",
    "frequency_code",
    "original_claim_id",
    "member_cin",
    "billing_npi",
    "billing_taxonomy",
    "attending_npi",
    "facility_type_code",
    "admission_date",
    "discharge_date",
    *DIAGNOSIS_COLUMNS,
    "received_date",
    "paid_date",
    *OPTIONAL_CLAIM_COLUMNS,
)

DATE_COLUMNS: dict[str, str] = {
    "received_date": "d_received",
    "paid_date": "d_paid",
    "service_from_date": "d_from",
    "service_to_date": "d_to",
    "admission_date": "d_admit",
    "discharge_date": "d_discharge",
    "statement_from_date": "d_statement_from",
    "statement_to_date": "d_statement_to",
}

MEMBER_COLUMNS: tuple[str, ...] = (
    "member_cin",
    "last_name",
    "first_name",
    "birth_date",
    "gender",
    "address_line_1",
    "city",
    "state",
    "zip",
    "county_code",
    "enrollment_start",
    "enrollment_end",
)
# Every roster column must be in the header (docs/decisions.md "Rosters"): each feeds a rule or the
# 837 (names, birth date, gender and address for the subscriber; enrollment_end closes a span, so a
# missing column would silently leave every span open). Values may still be empty where allowed.
MEMBER_REQUIRED: tuple[str, ...] = MEMBER_COLUMNS

PROVIDER_COLUMNS: tuple[str, ...] = (
    "npi",
    "entity_type",
    "name",
    "first_name",
    "taxonomy",
    "tax_id",
    "address_line_1",
    "city",
    "state",
    "zip",
)
# tax_id and zip make a billing provider (BILLING_PROVIDER_UNKNOWN), the rest fill the 837's
# provider loops: a directory without one of them fails the partition naming file and column.
PROVIDER_REQUIRED: tuple[str, ...] = PROVIDER_COLUMNS
