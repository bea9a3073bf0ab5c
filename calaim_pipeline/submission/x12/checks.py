"""What makes a claim unwritable as a valid 837, as SQL: one CASE per row giving the first problem
(``claim <id>: <field> <problem>``), never member data. Claim-level checks run on a claim's first
line (its claim-level fields), line checks on every line. Maximum lengths come from the layout.
"""

from __future__ import annotations

from calaim_pipeline.sqltext import sql_str
from calaim_pipeline.submission.accepted_lines import F8_FIELD
from calaim_pipeline.submission.x12 import layout
from calaim_pipeline.submission.x12.text import ID_TEXT

MAX_LINES_PER_CLAIM: dict[str, int] = {"837P": 50, "837I": 999}  # loop 2400 repeat limits
MAX_DIAGNOSES = 12
HAS_BASIC = "[A-Za-z0-9!\"&'()+,\\-./;?=]"
_CODE = {
    "diagnosis": "[A-Za-z][0-9][A-Za-z0-9]{1,5}",
    "procedure": "[A-Za-z0-9]{5}",
    "taxonomy": "[A-Za-z0-9]{9}X",
    "modifier": "[A-Za-z0-9]{2}",
}


class SubmissionDataError(ValueError):
    """A claim cannot be written as a valid 837; the message names the claim id and the field."""


def _match(value: str, pattern: str) -> str:
    return f"regexp_full_match(coalesce({value}, ''), {sql_str(pattern)})"


def _identifier(field: str, value: str, max_len: int) -> list[tuple[str, str]]:
    return [
        (f"NOT x12_nonempty({value})", f"{field} is missing"),
        (
            f"length({value}) > {max_len} OR NOT {_match(value, ID_TEXT)}",
            f"{field} is not 1-{max_len} plain characters",
        ),
    ]


def _required_text(field: str, value: str, max_len: int, min_len: int = 1):
    # Empty once reduced to the basic set (x12_text) = no basic character but the space.
    has_basic = f"regexp_matches(coalesce({value}, ''), {sql_str(HAS_BASIC)})"
    found = [(f"NOT {has_basic}", f"{field} is missing")]
    text = f"x12_text({value}, {max_len})"
    if min_len > 1:
        found.append(
            (f"length({text}) < {min_len}", f"{field} is shorter than {min_len} characters")
        )
    return found


def _digits(field: str, value: str, lengths: tuple[int, ...]) -> list[tuple[str, str]]:
    allowed = " or ".join(str(n) for n in lengths)
    bad = (
        f"NOT {_match(value, '[0-9]+')} OR length({value}) NOT IN ({', '.join(map(str, lengths))})"
    )
    return [(bad, f"{field} is not {allowed} digits")]


def _code(field: str, value: str, kind: str) -> list[tuple[str, str]]:
    return [(f"NOT {_match(value, _CODE[kind])}", f"{field} is missing or malformed")]


def _state(field: str, value: str) -> list[tuple[str, str]]:
    return [(f"NOT {_match(value, '[A-Za-z]{2}')}", f"{field} is not a 2-letter state code")]


def _provider(role: str, prefix: str, npi: str, allowed: tuple[str, ...]):
    entity = f"coalesce({prefix}_entity_type, '')"
    return [
        *_digits(f"{role} npi", npi, (10,)),
        (
            f"{prefix}_entity_type IS NULL AND {prefix}_name IS NULL",
            f"{role} provider is not in the month's provider directory",
        ),
        (
            f"{entity} NOT IN ({', '.join(sql_str(a) for a in allowed)})",
            f"{role} provider entity_type is not valid for this loop",
        ),
        *_required_text(f"{role} provider name", f"{prefix}_name", 60),
    ]


def _when(condition: str, checks: list[tuple[str, str]]) -> list[tuple[str, str]]:
    return [(f"({condition}) AND ({bad})", message) for bad, message in checks]


def claim_checks(transaction: str) -> list[tuple[str, str]]:
    """(failing condition, "<field> <problem>") in the order the checks apply, for a claim's
    first line; conditions may use the claim columns of the query (``claim_lines``, ``dx``).
    The claim's line checks follow on its lines (``line_checks``)."""
    t = transaction
    f8_len = layout.max_len(t, "REF", "2300", "REF02", "F8")
    found = [
        (f"claim_lines > {MAX_LINES_PER_CLAIM[t]}", f"lines exceed the {t} limit of loop 2400"),
        # LX is a line's position among the claim's line numbers: they must not repeat.
        ("claim_distinct_line_numbers <> claim_lines", "line_number repeats within the claim"),
        ("coalesce(frequency_code, '') NOT IN ('1', '7', '8')", "frequency_code is not 1, 7 or 8"),
        *_when(
            "frequency_code IN ('7', '8')",
            _identifier(F8_FIELD, "payer_claim_control_number", f8_len),
        ),
        (
            f"len(dx) NOT BETWEEN 1 AND {MAX_DIAGNOSES}",
            f"diagnoses are not 1-{MAX_DIAGNOSES} codes",
        ),
        (
            f"NOT list_bool_and(list_transform(dx, lambda x: {_match('x', _CODE['diagnosis'])}))",
            "diagnosis is missing or malformed",
        ),
    ]
    if t == "837I":
        found.append(
            (
                f"NOT {_match('facility_type_code', '[0-9]{2}')}",
                "facility_type_code is missing or malformed",
            )
        )
    return found


def billing_checks(transaction: str) -> list[tuple[str, str]]:
    """The billing provider's checks (2000A/2010AA): they depend on the provider alone."""
    billing_entities = ("1", "2") if transaction == "837P" else ("2",)  # 837I: an institution
    return [
        *_provider("billing", "b", "billing_npi", billing_entities),
        *_required_text("billing provider address", "b_address_line_1", 55),
        *_required_text("billing provider city", "b_city", 30, min_len=2),
        *_state("billing provider state", "b_state"),
        *_digits("billing provider zip", "b_zip", (9,)),
        *_digits("billing provider tax_id", "b_tax_id", (9,)),
        *_when("x12_nonempty(b_taxonomy)", _code("billing taxonomy", "b_taxonomy", "taxonomy")),
    ]


def member_and_provider_checks(transaction: str) -> list[tuple[str, str]]:
    """After the billing provider's: the member, the claim id, the rendering or attending provider."""
    t = transaction
    found = [
        *_identifier("member cin", "member_cin", layout.max_len(t, "NM1", "2010BA", "NM109")),
        (
            "m_last_name IS NULL AND m_birth_date IS NULL AND m_gender IS NULL",
            "member is not on the month's roster",
        ),
        *_required_text("member last_name", "m_last_name", 60),
        *_required_text("member address_line_1", "m_address_line_1", 55),
        *_required_text("member city", "m_city", 30, min_len=2),
        *_state("member state", "m_state"),
        *_digits("member zip", "m_zip", (5, 9)),
        ("m_birth_date IS NULL", "member birth_date is missing"),
        ("coalesce(upper(m_gender), '') NOT IN ('F', 'M', 'U')", "member gender is not F, M or U"),
        *_identifier("claim_id", "claim_id", layout.max_len(t, "CLM", "2300", "CLM01")),
    ]
    if t == "837P":
        found += _when(
            "x12_nonempty(rendering_npi) AND rendering_npi <> coalesce(billing_npi, '')",
            [
                *_provider("rendering", "r", "rendering_npi", ("1", "2")),
                *_when(
                    "x12_nonempty(r_taxonomy)",
                    _code("rendering taxonomy", "r_taxonomy", "taxonomy"),
                ),
            ],
        )
    else:
        found += [
            ("NOT x12_nonempty(attending_npi)", "attending provider is missing"),
            *_provider("attending", "a", "attending_npi", ("1",)),
            *_when(
                "x12_nonempty(a_taxonomy)", _code("attending taxonomy", "a_taxonomy", "taxonomy")
            ),
        ]
    return found


def line_checks(transaction: str) -> list[tuple[str, str]]:
    """(failing condition, "<field> <problem>") of one line; the field is prefixed "line <n> "."""
    found = [("units <= 0", "units are not positive")]
    if transaction == "837P":
        found += [
            *_code("procedure_code", "procedure_code", "procedure"),
            (
                f"NOT {_match('place_of_service', '[0-9]{2}')}",
                "place_of_service is missing or malformed",
            ),
            (
                "len(pointers) NOT BETWEEN 1 AND 4 "
                "OR NOT list_bool_and(list_transform(pointers, lambda p: p BETWEEN 1 AND n_dx))",
                "diagnosis_pointers do not point at diagnoses",
            ),
        ]
    else:
        found += [
            (f"NOT {_match('revenue_code', '[0-9]{4}')}", "revenue_code is missing or malformed"),
            *_when(
                "x12_nonempty(procedure_code)",
                _code("procedure_code", "procedure_code", "procedure"),
            ),
        ]
    found.append(
        (
            f"NOT list_bool_and(list_transform(modifiers, lambda x: {_match('x', _CODE['modifier'])}))",
            "modifier is missing or malformed",
        )
    )
    return found


def _case(checks: list[tuple[str, str]], prefix: str) -> str:
    whens = " ".join(f"WHEN {bad} THEN {prefix}{sql_str(message)}" for bad, message in checks)
    return f"CASE {whens} END"


def problem_sql(transaction: str) -> dict[str, str]:
    """SQL expressions giving the first problem (NULL when fine): "line" (a line row), "claim"
    (a claim's checks before its billing provider's), "billing" (the provider's, without the claim
    prefix), "rest" (the member's, the claim id's, the rendering or attending provider's)."""
    claim_prefix = "'claim ' || claim_id || ': ' || "
    return {
        "line": _case(
            line_checks(transaction),
            "'claim ' || claim_id || ': line ' || CAST(line_number AS VARCHAR) || ' ' || ",
        ),
        "claim": _case(claim_checks(transaction), claim_prefix),
        "billing": _case(billing_checks(transaction), ""),
        "rest": _case(member_and_provider_checks(transaction), claim_prefix),
    }
