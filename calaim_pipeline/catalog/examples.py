"""The rules' examples as data: rows each rule must pass or fail, run by test_rule_examples.py.

A rule's SQL is only as good as the rows it was tried on, so every rule carries a few in the
catalog and one fast test runs them through the real judging steps. An example says as little as
it can; everything else comes from the one clean baseline at the top of rules.yaml
(`example_baseline`). An example (under a rule's `examples: {pass: [...], fail: [...]}`) is:

- a mapping of contract columns: one encounter line, e.g. `{units: '0'}`;
- a list of such mappings: the lines of one small extract, for the set-level rules (a claim
  whose lines disagree, a duplicate line);
- a mapping with `lines:` (that list) and any of the keys below, which may also sit beside the
  columns of a one-line mapping:
    member    roster overrides for the member, or null: the member is not on the roster
    provider  provider-directory overrides for the billing NPI, or null: it is not listed
    ledger    lines submitted in an earlier month (`context.ledger_month`), for the ledger rules
    dhcs      DHCS's answer to ledger claims, `{claim_id: accepted | rejected | awaiting}`; with it
              the plan has ingested a 277CA (an accepted claim gets an ICN), without it none
    raw       text lines appended as they are to the CSV, for ROW_UNPARSEABLE
    member_raw, provider_raw
              text lines appended as they are to members.csv / providers.csv (broken roster rows)
    also      other rule ids the example fires besides its own (say so rather than hide it)

Values are text as in an extract, so quote numbers in YAML ('01' is not 1); null is an empty
field, and a valid unquoted YAML date stands for its YYYY-MM-DD text. Examples that cannot affect
each other share a run (validation/rule_examples.py); two that write the same claim id, CIN or
billing NPI need separate runs, so prefer ids no other example uses.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from calaim_pipeline.ingest.contract import ENCOUNTER_COLUMNS, MEMBER_COLUMNS, PROVIDER_COLUMNS

EXTRA_KEYS = ("member", "provider", "ledger", "dhcs", "raw", "member_raw", "provider_raw", "also")
MONTH = r"^\d{4}-(0[1-9]|1[0-2])$"


def _cell(value: Any) -> Any:
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, date):
        return value.isoformat()
    raise ValueError(
        f"{value!r}: write extract values as quoted text (YAML read a {type(value).__name__})"
    )


Cell = Annotated[str | None, BeforeValidator(_cell)]


def _columns_of(allowed: tuple[str, ...], what: str) -> Callable[[dict], dict]:
    def check(row: dict) -> dict:
        unknown = sorted(set(row) - set(allowed))
        if unknown:
            raise ValueError(f"not {what} column(s): {', '.join(unknown)}")
        return row

    return check


Line = Annotated[dict[str, Cell], AfterValidator(_columns_of(ENCOUNTER_COLUMNS, "encounter"))]
Member = Annotated[dict[str, Cell], AfterValidator(_columns_of(MEMBER_COLUMNS, "roster"))]
Provider = Annotated[dict[str, Cell], AfterValidator(_columns_of(PROVIDER_COLUMNS, "provider"))]


def _listed(value: Any) -> Any:
    return [value] if isinstance(value, str) else value


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Example(_Strict):
    """One pass or fail case: the lines of a tiny extract and the context they are judged in."""

    lines: list[Line]
    member: Member | None = Field(default_factory=dict)
    provider: Provider | None = Field(default_factory=dict)
    ledger: list[Line] = Field(default_factory=list)
    dhcs: dict[str, Literal["accepted", "rejected", "awaiting"]] = Field(default_factory=dict)
    raw: Annotated[list[str], BeforeValidator(_listed)] = Field(default_factory=list)
    member_raw: Annotated[list[str], BeforeValidator(_listed)] = Field(default_factory=list)
    provider_raw: Annotated[list[str], BeforeValidator(_listed)] = Field(default_factory=list)
    also: Annotated[list[str], BeforeValidator(_listed)] = Field(default_factory=list)

    @model_validator(mode="before")
    @classmethod
    def _short_forms(cls, data: Any) -> Any:
        """A list is the lines; a mapping without `lines` is one line (plus the extra keys)."""
        if isinstance(data, list):
            return {"lines": data}
        if isinstance(data, dict) and "lines" not in data:
            extra = {k: v for k, v in data.items() if k in EXTRA_KEYS}
            line = {k: v for k, v in data.items() if k not in EXTRA_KEYS}
            return {**extra, "lines": [line]}
        return data


class Examples(_Strict):
    """A rule's examples: rows it must pass (not fire on) and rows it must fail (fire on)."""

    passes: list[Example] = Field(alias="pass", min_length=1)
    fail: list[Example] = Field(min_length=1)

    def cases(self) -> list[tuple[str, list[Example]]]:
        return [("pass", self.passes), ("fail", self.fail)]


class ExampleContext(_Strict):
    """The plan-month every example is judged as, and the day it is judged on."""

    plan: str
    month: str = Field(pattern=MONTH)
    ledger_month: str = Field(pattern=MONTH)  # the earlier month `ledger` lines were submitted in
    today: date


class ExampleBaseline(_Strict):
    """One clean line with its roster member and billing provider: passes every rule."""

    context: ExampleContext
    line: Line
    member: Member
    provider: Provider
    # Named partial lines that examples merge in with YAML's `<<: *name` (anchors defined here).
    fragments: dict[str, Line] = Field(default_factory=dict)
