"""The month record (metrics.json) as one typed, versioned contract.

Fast: records are written by hand; the lake is a temporary folder. A record edited by hand or
written by another schema version must fail with a message naming the file, never a KeyError from
deep inside a check, a scorecard or the gate.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from calaim_pipeline import lake
from calaim_pipeline.month_record import (
    SCHEMA_VERSION,
    MonthRecord,
    MonthRecordError,
    read_month_record,
    record_json,
)
from calaim_pipeline.plan_month_checks import evaluate_and_record
from calaim_pipeline.scorecard.build import build_scorecard
from calaim_pipeline.settings import DataPaths, load_thresholds
from calaim_pipeline_tests.records import make_record, record_dict

pytestmark = pytest.mark.fast


def stored(tmp_path: Path, raw: object) -> Path:
    """The record written where the lake keeps CHG 2026-09's, as a hand edit would leave it."""
    path = lake.metrics_path(tmp_path / "lake", "CHG", "2026-09")
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps(raw) if not isinstance(raw, str) else raw, encoding="utf-8")
    return path


def test_a_record_round_trips_through_its_json(tmp_path: Path) -> None:
    record = make_record()
    path = stored(tmp_path, record_json(record))
    assert read_month_record(path) == record
    assert record_json(record)["schema_version"] == SCHEMA_VERSION


def test_a_deleted_key_names_the_file_and_the_key(tmp_path: Path) -> None:
    raw = record_dict()
    del raw["reject_rate"]
    path = stored(tmp_path, raw)
    with pytest.raises(MonthRecordError) as raised:
        lake.read_metrics(tmp_path / "lake", "CHG", "2026-09")
    message = str(raised.value)
    assert message.startswith(f"{path}: month record does not match schema_version 1")
    assert "reject_rate: Field required" in message
    assert "Re-run the month" in message


def test_a_deleted_nested_key_names_its_path(tmp_path: Path) -> None:
    raw = record_dict()
    del raw["timeliness"]["lag_days_p50"]
    path = stored(tmp_path, raw)
    with pytest.raises(MonthRecordError, match=r"timeliness\.lag_days_p50: Field required"):
        read_month_record(path)


@pytest.mark.parametrize(
    ("version", "found"), [(2, "schema_version 2"), ("1", "schema_version '1'"), (None, "no")]
)
def test_another_schema_version_is_refused_naming_the_file(
    tmp_path: Path, version: object, found: str
) -> None:
    raw = record_dict()
    if version is None:
        del raw["schema_version"]
    else:
        raw["schema_version"] = version
    path = stored(tmp_path, raw)
    with pytest.raises(MonthRecordError) as raised:
        read_month_record(path)
    assert str(raised.value).startswith(
        f"{path}: month record has {found} schema_version"
        if version is None
        else f"{path}: month record has {found}; this version reads schema_version 1"
    )


def test_a_truncated_record_is_not_json_and_says_so(tmp_path: Path) -> None:
    path = stored(tmp_path, json.dumps(record_dict())[:200])
    with pytest.raises(MonthRecordError, match=rf"^{path}: month record is not valid JSON"):
        read_month_record(path)


def test_an_unknown_key_is_refused(tmp_path: Path) -> None:
    path = stored(tmp_path, record_dict(rows_raed=3))
    with pytest.raises(MonthRecordError, match=r"rows_raed: Extra inputs are not permitted"):
        read_month_record(path)


def test_no_record_is_none(tmp_path: Path) -> None:
    assert lake.read_metrics(tmp_path / "lake", "CHG", "2026-09") is None


def test_the_checks_and_the_scorecard_refuse_a_corrupt_record_naming_it(
    tmp_path: Path,
) -> None:
    raw = record_dict()
    del raw["duplicates"]["rate"]
    path = stored(tmp_path, raw)
    with pytest.raises(MonthRecordError, match=rf"^{path}: .*duplicates\.rate: Field required"):
        evaluate_and_record(tmp_path / "lake", "CHG", "2026-09", load_thresholds())
    paths = DataPaths(root=tmp_path)
    with pytest.raises(MonthRecordError, match=rf"^{path}: "):
        build_scorecard(paths, "CHG", "2026-09")


def test_messages_carry_no_values_from_the_record(tmp_path: Path) -> None:
    """pydantic's messages name keys and types; the value a key held is never echoed."""
    raw = record_dict(plan=["SECRET-VALUE"])
    path = stored(tmp_path, raw)
    with pytest.raises(MonthRecordError) as raised:
        read_month_record(path)
    assert "SECRET-VALUE" not in str(raised.value)


def test_the_record_model_is_the_one_the_validation_writes() -> None:
    """Every key of the record is declared once, here; the engine builds this model."""
    assert set(MonthRecord.model_fields) == set(record_dict())
