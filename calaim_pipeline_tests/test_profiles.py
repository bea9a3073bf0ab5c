"""Ingest profiles: a plan's own shape, read through its profile, judges exactly like the same data
in the contract's shape; a bad profile, a missing mapped column and an unconvertible value each
fail or reject with a message that names the key, the file and column, or the rule."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import duckdb
import pytest

from calaim_pipeline.ingest.landing import find_drop
from calaim_pipeline.ingest.reader import ExtractFileError
from calaim_pipeline.lake import partition_file
from calaim_pipeline.sample.generator import generate_sample
from calaim_pipeline.settings import DataPaths, load_plans, load_thresholds
from calaim_pipeline.validation.engine import run_plan_month
from calaim_pipeline_tests import tuva_fixture
from calaim_pipeline_tests.drops import claims, landing, write_csv, write_rosters

PLAN, MONTH = "CHG", "2026-08"
TODAY = date(2026, 10, 5)


def _config_dir(tmp_path: Path, text: str) -> Path:
    folder = tmp_path / "config"
    folder.mkdir(exist_ok=True)
    (folder / "profiles.yaml").write_text(text, encoding="utf-8")
    return folder


def _run(root: Path, plan: str = PLAN, month: str = MONTH):
    paths = DataPaths(root)
    drop = find_drop(paths, plan, month, load_plans().codes)
    return run_plan_month(drop, paths, load_thresholds(), today=TODAY)


def _outcome(root: Path, plan: str = PLAN, month: str = MONTH) -> dict[str, set]:
    lake = DataPaths(root).lake

    def rows(table: str, columns: str) -> set:
        path = partition_file(lake, table, plan, month)
        return set(duckdb.sql(f"SELECT {columns} FROM '{path}'").fetchall())

    return {
        "accepted": rows("encounter_lines", "claim_id, line_number, source_row"),
        "rejected": rows(
            "encounter_rejects",
            "claim_id, line_number, source_row, array_to_string(list_sort(rule_ids), ' ')",
        ),
        "roster_rejects": rows(
            "roster_rejects", "roster, source_row, array_to_string(list_sort(rule_ids), ' ')"
        ),
        # Member data stays out of assertion messages: a digest per row, gender as its code
        # (an unmapped code is kept marked, `unmapped:X`, in the lake's members table).
        "members": rows(
            "members",
            "source_row, md5(concat_ws('|', member_cin, birth_date, enrollment_start, "
            "enrollment_end)), replace(gender, 'unmapped:', '')",
        ),
    }


def test_pipe_cp1252_extract_through_its_profile_judges_like_the_contract_shape(
    tmp_path, monkeypatch
):
    """The sample's HPSM in its claims system's shape (pipe-delimited Windows-1252, US dates,
    its own names and codes, packed diagnoses and modifiers), read through the profile shipped
    in config/profiles.yaml, judges row for row and rule for rule like the same data in the
    contract's shape."""
    own, month = "HPSM", MONTH
    contract_root, profiled_root = tmp_path / "contract", tmp_path / "profiled"
    kwargs = {"plan_lines": {own: 600}, "months": (month,), "defect_rate": 0.3, "seed": 5}
    monkeypatch.delenv("CALAIM_CONFIG_DIR", raising=False)
    generate_sample(contract_root, shapes={}, **kwargs)
    generate_sample(profiled_root, **kwargs)  # the bundled config: HPSM through hpsm_pipe
    folder = profiled_root / "landing" / own / month
    assert b"|" in (folder / "members.csv").read_bytes()
    assert "–".encode("cp1252") in (folder / "encounters.csv").read_bytes()

    mapped = _run(profiled_root, own, month)
    monkeypatch.setenv("CALAIM_CONFIG_DIR", str(_config_dir(tmp_path, "plans: {}\n")))
    plain = _run(contract_root, own, month)
    assert plain.metrics.profile is None and plain.metrics.profile_hash is None

    expected, got = _outcome(contract_root, own, month), _outcome(profiled_root, own, month)
    assert got["rejected"] == expected["rejected"]
    assert got["accepted"] == expected["accepted"]
    assert got["roster_rejects"] == expected["roster_rejects"]
    assert got["members"] == expected["members"]  # US birth dates staged as the contract's
    rules = {rule for *_, ids in expected["rejected"] for rule in ids.split()}
    assert {"DATE_UNPARSEABLE", "ROW_UNPARSEABLE", "AMOUNT_INVALID"} <= rules
    assert {"CLAIM_TYPE_INVALID", "FREQUENCY_CODE_INVALID", "ICD10_NOT_BILLABLE"} <= rules

    record = mapped.metrics
    assert record.profile == "hpsm_pipe" and len(record.profile_hash or "") == 16
    assert record.files[0].extra_columns == ["CLM_STATUS_DESC"] and record.files[0].reconciles
    assert record.rows_read == plain.metrics.rows_read
    assert "config/profiles.yaml" in record.rules_fingerprint


def _small_drop(root: Path, rows: list[dict[str, str]], delimiter: str = "|") -> Path:
    folder = landing(root, PLAN, "2026-09")
    write_rosters(folder)
    columns = [c for c in rows[0] if c]
    write_csv(folder / "encounters.csv", rows, columns)
    for name in ("encounters.csv", "members.csv", "providers.csv"):
        path = folder / name
        path.write_text(path.read_text().replace(",", delimiter))
    return folder


SMALL_PROFILE = """
profiles:
  small:
    dialect: {delimiter: "|"}
    encounters:
      columns: {claim_id: CLAIM_NBR, received_date: RECV_DT}
      value_maps: {claim_type: {values: {PROF: P}}}
      date_formats: [MM/DD/YYYY]
plans: {CHG: small}
"""


def _small_rows() -> list[dict[str, str]]:
    rows = []
    for row in claims(3, lines_per_claim=1):
        row = {("CLAIM_NBR" if k == "claim_id" else k): v for k, v in row.items()}
        row["RECV_DT"] = date.fromisoformat(row.pop("received_date")).strftime("%m/%d/%Y")
        row["claim_type"] = "PROF"
        row["diagnosis_pointers"] = "1"
        rows.append(row)
    return rows


def test_a_mapped_column_missing_from_the_file_fails_naming_file_column_and_profile(
    tmp_path, monkeypatch
):
    root = tmp_path / "data"
    rows = [{k: v for k, v in r.items() if k != "RECV_DT"} for r in _small_rows()]
    _small_drop(root, rows)
    monkeypatch.setenv("CALAIM_CONFIG_DIR", str(_config_dir(tmp_path, SMALL_PROFILE)))
    with pytest.raises(ExtractFileError) as caught:
        _run(root, month="2026-09")
    message = str(caught.value)
    assert message.startswith("encounters.csv: line 1: column 'RECV_DT' is not in the header")
    assert "profile 'small'" in message and "encounters.columns.received_date" in message


def test_an_unconvertible_value_rejects_the_row_with_the_contract_rule(tmp_path, monkeypatch):
    root = tmp_path / "data"
    rows = _small_rows()
    rows[1]["RECV_DT"] = "31/12/2026"  # not MM/DD/YYYY
    rows[2]["claim_type"] = "DENT"  # not in the value map
    _small_drop(root, rows)
    monkeypatch.setenv("CALAIM_CONFIG_DIR", str(_config_dir(tmp_path, SMALL_PROFILE)))
    result = _run(root, month="2026-09")
    assert (result.metrics.accepted, result.metrics.rejected) == (1, 2)
    path = partition_file(DataPaths(root).lake, "encounter_rejects", PLAN, "2026-09")
    rejects = duckdb.sql(
        f"SELECT claim_id, source_row, rule_ids, array_to_string(messages, ' ') || ' ' || coalesce(details, '') FROM '{path}' "
        "ORDER BY source_row"
    ).fetchall()
    assert [r[:3] for r in rejects] == [
        ("C00001", 3, ["DATE_UNPARSEABLE"]),
        ("C00002", 4, ["CLAIM_TYPE_INVALID"]),
    ]
    assert "received_date" in rejects[0][3] and "31/12/2026" not in rejects[0][3]


def test_a_tuva_input_layer_drop_through_the_builtin_profile_reconciles_row_for_row(
    tmp_path, monkeypatch
):
    sample, tuva_root, plain_root = tmp_path / "sample", tmp_path / "tuva", tmp_path / "plain"
    generate_sample(
        sample,
        plan_lines={PLAN: 600},
        months=(MONTH,),
        defect_rate=0.3,
        seed=9,
        file_format="parquet",
    )
    lines = tuva_fixture.build(
        sample / "landing" / PLAN / MONTH,
        tuva_root / "landing" / PLAN / MONTH,
        plain_root / "landing" / PLAN / MONTH,
        PLAN,
    )
    monkeypatch.delenv("CALAIM_CONFIG_DIR", raising=False)
    plain = _run(plain_root)
    monkeypatch.setenv(
        "CALAIM_CONFIG_DIR", str(_config_dir(tmp_path, f"plans: {{{PLAN}: tuva}}\n"))
    )
    tuva = _run(tuva_root)

    expected, got = _outcome(plain_root), _outcome(tuva_root)
    assert got["rejected"] == expected["rejected"]
    assert got["accepted"] == expected["accepted"]
    assert got["roster_rejects"] == expected["roster_rejects"]
    assert got["members"] == expected["members"]
    record = tuva.metrics
    assert record.rows_read == lines == record.accepted + record.rejected
    assert record.accepted > 0 and record.rejected > 0
    assert record.profile == "tuva" and record.profile_hash
    assert "profiles/tuva.yaml" in record.rules_fingerprint
    assert plain.metrics.accepted == record.accepted
    extra = set(record.files[0].extra_columns)
    assert {"person_id", "payer", "plan", "diagnosis_code_type", "data_source"} <= extra


def test_packed_parts_are_trimmed_normalised_positional_and_keep_their_surplus(monkeypatch):
    """A packed field is split once, its parts trimmed and (diagnoses) normalised as a whole
    value: the same parts as trimming and normalising each part, an empty part stays a gap,
    and parts beyond the last target stay joined in it (so its rule rejects them)."""
    from calaim_pipeline.ingest.profile_sql import Reading, map_columns
    from calaim_pipeline.ingest.profiles import profile_for_plan
    from calaim_pipeline.ingest.reader import _clean_select, _Header

    monkeypatch.delenv("CALAIM_CONFIG_DIR", raising=False)
    active = profile_for_plan("HPSM")  # the bundled hpsm_pipe
    assert active is not None
    reading = Reading(active, "encounters", PLAN)
    part = active.table("encounters")
    names = sorted({s.column for c in part.columns if (s := part.source(c)) is not None})
    names += [packed.column for packed in part.packed]
    mapping = map_columns(reading, "f.csv", {n.lower(): n for n in names}, ("diagnosis_1",))
    header = _Header(
        {}, mapping.expressions, [], True, mapping.helpers, mapping.parts, mapping.normalised
    )
    targets = [f"diagnosis_{i}" for i in range(1, 13)] + ["modifier_1", "modifier_2"]
    cases = {
        "e11.9; i10": ["E119", "I10"],
        "E119;;z79.4": ["E119", None, "Z794"],
        " ;  E119 ": [None, "E119"],
        ".": [],
        ";".join("ABCDEFGHIJKLM"): [*"ABCDEFGHIJK", "L;M"],
        "A;B;C;D;E;F;G;H;I;J;K; l ;m ; ": [*"ABCDEFGHIJK", "L;M"],
    }
    for text, expected in cases.items():
        row = {n: None for n in names} | {"DX_CODES": text, "MODS": " 25 :59"}
        values = ", ".join("NULL" if v is None else f"'{v}'" for v in row.values())
        raw = f"(SELECT * FROM (VALUES ({values})) AS t({', '.join(row)}))"
        (got,) = duckdb.sql(
            f"SELECT {_clean_select(header, tuple(targets))} FROM {header.relation(raw)}"
        ).fetchall()
        assert list(got) == [*expected, *[None] * (12 - len(expected)), "25", "59"], text
