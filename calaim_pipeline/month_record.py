"""What a judged plan-month produces, as one typed, versioned record (the lake's metrics.json).

Validation writes it; the checks, the gate, the scorecard, the CLI, the sensor and later months'
volume history read it. Every reader goes through `read_month_record`, so a record that was
corrupted by hand, truncated, or written by an older version fails with a `MonthRecordError`
naming the file and the key, never a `KeyError` deep inside a check. Counts, rates, rule ids,
claim ids, file names and line numbers only: never member data.

Bump SCHEMA_VERSION when a field is added, renamed or removed, and say in CHANGELOG.md what an
older record needs (today: re-run the month; records are derived data, rebuilt from the landing).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

SCHEMA_VERSION = 1


class MonthRecordError(ValueError):
    """A month record that cannot be read as this version's schema: names the file and the keys."""


class _Part(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FileCounts(_Part):
    """One encounter file: rows read = accepted + rejected (rows_reconcile)."""

    file: str
    format: str
    rows_read: int
    accepted: int
    rejected: int
    unparseable: int
    reconciles: bool
    extra_columns: list[str]


class RosterCounts(_Part):
    """One roster file (members.csv, providers.csv): rows read = kept + rejected."""

    file: str
    rows_read: int
    unparseable: int
    unparseable_lines: list[int]
    extra_columns: list[str]
    kept: int
    rejected: int
    reconciles: bool
    rule_counts: dict[str, int]
    example_lines: list[int]


class Example(_Part):
    """Where a rule fired: the claim id and the file line (never member data)."""

    claim_id: str | None
    file: str
    line: int


class Completeness(_Part):
    applicable: int
    filled: int
    rate: float | None


class FamilyValidity(_Part):
    rows_failed: int
    pass_rate: float | None


class Duplicates(_Part):
    rows: int
    rate: float


class EcmCs(_Part):
    lines: int
    invalid: int
    valid_share: float | None


class Timeliness(_Part):
    dated_lines: int
    paid_within_days: int
    paid_within_share: float | None
    lag_days_p50: float | None
    lag_days_p90: float | None
    share_within_30: float | None
    share_within_90: float | None
    share_within_180: float | None


class Utilisation(_Part):
    enrolled_members: int
    claims_accepted: int
    encounters_per_member_month: float | None


class VolumePoint(_Part):
    month: str
    rows_read: int


class LedgerContext(_Part):
    """What the ledger rules compared against, so a reviewer knows whether they could fire."""

    earlier_months_known: bool
    live_line_keys: int


class MonthMeasures(_Part):
    """The measures computed from the judged lines (validation/metrics.py)."""

    plan: str
    month: str = Field(pattern=r"^\d{4}-\d{2}$")
    files: list[FileCounts]
    rows_read: int
    accepted: int
    rejected: int
    unparseable: int
    accepted_with_warnings: int
    reject_rate: float
    claims_read: int
    claims_accepted: int
    claims_billed_zero: int
    billed_total: float
    paid_total: float
    rule_counts: dict[str, int]
    rule_examples: dict[str, list[Example]]
    completeness: dict[str, Completeness]
    family_validity: dict[str, FamilyValidity]
    duplicates: Duplicates
    ecm_cs: EcmCs
    timeliness: Timeliness
    utilisation: Utilisation
    volume_history: list[VolumePoint]


class MonthRecord(MonthMeasures):
    """The whole record of one judged plan-month: measures, rosters and the judgement's identity."""

    schema_version: Literal[1] = SCHEMA_VERSION
    rosters: dict[str, RosterCounts]
    contract_checked_rows: int
    ledger: LedgerContext
    landing_fingerprint: str
    judgement_id: str
    accepted_digest: str
    input_files: dict[str, str]
    rules_fingerprint: dict[str, str]
    rules_version: str = Field(description="gate.rules_version(): the assets' code_version")
    timings: dict[str, float] = Field(default_factory=dict)
    # The ingest profile the plan's files were read through (ingest/profiles.py), None for the
    # contract's own shape; profile_hash is its content hash.
    profile: str | None = None
    profile_hash: str | None = None

    def example_claims(self, rule_id: str, limit: int) -> list[dict]:
        """A rule's first examples as plain dicts, as check metadata shows them."""
        return [e.model_dump() for e in self.rule_examples.get(rule_id, [])[:limit]]


def _problems(error: ValidationError) -> str:
    return "; ".join(
        f"{'.'.join(str(p) for p in item['loc']) or '<root>'}: {item['msg']}"
        for item in error.errors()[:5]
    )


def parse_month_record(raw: object, path: Path) -> MonthRecord:
    """The record in `raw` (a parsed metrics.json), or a MonthRecordError naming `path`."""
    if not isinstance(raw, dict):
        raise MonthRecordError(f"{path}: not a month record (expected a JSON object)")
    version = raw.get("schema_version")
    if version != SCHEMA_VERSION:
        found = "no schema_version" if version is None else f"schema_version {version!r}"
        raise MonthRecordError(
            f"{path}: month record has {found}; this version reads schema_version "
            f"{SCHEMA_VERSION}. Re-run the month to rebuild it (the record is derived from the "
            "landing files)."
        )
    try:
        return MonthRecord.model_validate(raw)
    except ValidationError as exc:
        raise MonthRecordError(
            f"{path}: month record does not match schema_version {SCHEMA_VERSION}: "
            f"{_problems(exc)}. Re-run the month to rebuild it."
        ) from None


def read_month_record(path: Path) -> MonthRecord | None:
    """The month record at `path`, None when there is none (the month was never judged)."""
    if not path.is_file():
        return None
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise MonthRecordError(f"{path}: month record is not valid JSON ({exc})") from None
    return parse_month_record(raw, path)


def record_json(record: MonthRecord) -> dict:
    """The record as the JSON object metrics.json stores."""
    return record.model_dump(mode="json")
