"""Claim status codes a 277CA carries in STC01 (category code 507 : status code 508), with what they
mean to the encounter team and what to do. The list is a realistic subset of the X12 external code
lists; the simulator draws its rejections from REJECTIONS and the worklist explains them."""

from __future__ import annotations

from dataclasses import dataclass

ACCEPTED_CATEGORY, ACCEPTED_STATUS = "A2", "20"  # accepted into adjudication / for processing
RECEIPT_CATEGORY, RECEIPT_STATUS = "A1", "19"  # acknowledgement / receipt (file and provider level)


@dataclass(frozen=True)
class Rejection:
    category: str
    status: str
    meaning: str
    action: str

    @property
    def code(self) -> str:
        return f"{self.category}:{self.status}"


REJECTIONS: tuple[Rejection, ...] = (
    Rejection(
        "A7",
        "562",
        "Rejected for invalid information: entity's National Provider Identifier (NPI)",
        "correct the provider NPI, then send the claim again as an original (frequency 1)",
    ),
    Rejection(
        "A7",
        "454",
        "Rejected for invalid information: procedure code for services rendered",
        "correct the procedure code, then send the claim again as an original (frequency 1)",
    ),
    Rejection(
        "A7",
        "255",
        "Rejected for invalid information: diagnosis code",
        "correct the diagnosis codes, then send the claim again as an original (frequency 1)",
    ),
    Rejection(
        "A8",
        "145",
        "Rejected for relational field in error: entity's specialty/taxonomy code",
        "correct the provider taxonomy, then send the claim again as an original (frequency 1)",
    ),
    Rejection(
        "A7",
        "33",
        "Rejected for invalid information: subscriber and subscriber id not found",
        "check the member's CIN and eligibility, then send again as an original (frequency 1)",
    ),
    Rejection(
        "A3",
        "187",
        "Returned as unprocessable claim: date(s) of service",
        "correct the service dates, then send the claim again as an original (frequency 1)",
    ),
)
BY_CODE = {r.code: r for r in REJECTIONS}

CATEGORY_MEANING = {
    "A1": "Acknowledgement/Receipt",
    "A2": "Acknowledgement/Acceptance into adjudication system",
    "A3": "Acknowledgement/Returned as unprocessable claim",
    "A4": "Acknowledgement/Not found",
    "A6": "Acknowledgement/Rejected for missing information",
    "A7": "Acknowledgement/Rejected for invalid information",
    "A8": "Acknowledgement/Rejected for relational field in error",
}
REJECTED_CATEGORIES = frozenset({"A3", "A4", "A6", "A7", "A8"})


def meaning(code: str) -> str:
    """`A7:562` → its meaning, falling back to the category's when the pair is not listed."""
    if code in BY_CODE:
        return BY_CODE[code].meaning
    return CATEGORY_MEANING.get(code.split(":")[0], "unlisted claim status code")


def action(code: str) -> str:
    if code in BY_CODE:
        return BY_CODE[code].action
    return "read the 277CA status code, correct the claim, then send it again as an original"
