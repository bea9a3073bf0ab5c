"""A small, valid month record for direct tests of the checks and the scorecard (no run needed).

The numbers describe a clean month of 1,000 lines; tests change only what they are about.
"""

from __future__ import annotations

from typing import Any

from calaim_pipeline.catalog import FAMILIES
from calaim_pipeline.month_record import MonthRecord

REQUIRED_FIELDS = ("member_cin", "claim_id", "procedure_code", "diagnosis_1", "billing_npi")


def record_dict(**overrides: Any) -> dict[str, Any]:
    """The JSON object of a clean month record; top-level keys in `overrides` replace its own."""
    roster = {
        "unparseable": 0,
        "unparseable_lines": [],
        "extra_columns": [],
        "rejected": 0,
        "reconciles": True,
        "rule_counts": {},
        "example_lines": [],
    }
    raw: dict[str, Any] = {
        "schema_version": 1,
        "plan": "CHG",
        "month": "2026-09",
        "files": [
            {
                "file": "encounters.csv",
                "format": "csv",
                "rows_read": 1000,
                "accepted": 990,
                "rejected": 10,
                "unparseable": 0,
                "reconciles": True,
                "extra_columns": [],
            }
        ],
        "rows_read": 1000,
        "accepted": 990,
        "rejected": 10,
        "unparseable": 0,
        "accepted_with_warnings": 3,
        "reject_rate": 0.01,
        "claims_read": 400,
        "claims_accepted": 396,
        "claims_billed_zero": 0,
        "billed_total": 120000.0,
        "paid_total": 90000.0,
        "rule_counts": {"ICD10_NOT_BILLABLE": 10},
        "rule_examples": {
            "ICD10_NOT_BILLABLE": [{"claim_id": "CHG-1", "file": "encounters.csv", "line": 7}]
        },
        "completeness": {
            name: {"applicable": 1000, "filled": 1000, "rate": 1.0} for name in REQUIRED_FIELDS
        },
        "family_validity": {f: {"rows_failed": 0, "pass_rate": 1.0} for f in FAMILIES},
        "duplicates": {"rows": 0, "rate": 0.0},
        "ecm_cs": {"lines": 0, "invalid": 0, "valid_share": None},
        "timeliness": {
            "dated_lines": 1000,
            "paid_within_days": 90,
            "paid_within_share": 0.97,
            "lag_days_p50": 21.0,
            "lag_days_p90": 60.0,
            "share_within_30": 0.6,
            "share_within_90": 0.97,
            "share_within_180": 1.0,
        },
        "utilisation": {
            "enrolled_members": 300,
            "claims_accepted": 396,
            "encounters_per_member_month": 1.32,
        },
        "volume_history": [],
        "rosters": {
            "members": {"file": "members.csv", "rows_read": 300, "kept": 300, **roster},
            "providers": {"file": "providers.csv", "rows_read": 40, "kept": 40, **roster},
        },
        "contract_checked_rows": 990,
        "ledger": {"earlier_months_known": False, "live_line_keys": 0},
        "landing_fingerprint": "f" * 16,
        "judgement_id": "a" * 20,
        "accepted_digest": "990:1",
        "input_files": {"encounters.csv": "0" * 64},
        "rules_fingerprint": {"catalog/rules.yaml": "1" * 64},
        "rules_version": "b" * 12,
        "timings": {"judge": 0.1},
        "profile": None,
        "profile_hash": None,
    }
    raw.update(overrides)
    return raw


def make_record(**overrides: Any) -> MonthRecord:
    return MonthRecord.model_validate(record_dict(**overrides))
