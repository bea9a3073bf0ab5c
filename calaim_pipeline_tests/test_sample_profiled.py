"""The bundled sample's profiled plan: HPSM lands in its claims system's own shape (pipe-delimited
Windows-1252, US dates, its own names and codes, packed diagnoses) through the inverse of the
profile shipped in config/profiles.yaml, and every contract column survives the trip back."""

from __future__ import annotations

import csv
import io
import shutil
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from calaim_pipeline.ingest.contract import (
    ALWAYS_REQUIRED,
    ENCOUNTER_COLUMNS,
    MEMBER_COLUMNS,
    MEMBER_REQUIRED,
    PROVIDER_COLUMNS,
    PROVIDER_REQUIRED,
)
from calaim_pipeline.ingest.profile_sql import Reading
from calaim_pipeline.ingest.profiles import profile_for_plan
from calaim_pipeline.ingest.reader import stage_file
from calaim_pipeline.sample import generate_sample
from calaim_pipeline.sample.profiled import (
    STATUS_COLUMN,
    ProfileNotInvertible,
    configured_shapes,
    reshape_month,
)
from calaim_pipeline.settings import load_plans
from calaim_pipeline.validation.engine import connect

PLAN, MONTH = "HPSM", "2026-09"
FILES = {
    "encounters": ("encounters.csv", ENCOUNTER_COLUMNS, ALWAYS_REQUIRED),
    "members": ("members.csv", MEMBER_COLUMNS, MEMBER_REQUIRED),
    "providers": ("providers.csv", PROVIDER_COLUMNS, PROVIDER_REQUIRED),
}


@pytest.fixture(autouse=True)
def _bundled_config(monkeypatch):
    monkeypatch.delenv("CALAIM_CONFIG_DIR", raising=False)


def test_the_bundled_config_reads_one_sample_plan_through_its_shipped_profile():
    active = profile_for_plan(PLAN)
    assert active is not None and active.name == "hpsm_pipe"
    assert active.source.name == "profiles.yaml"
    assert set(configured_shapes(load_plans().codes)) == {PLAN}


def _staged(path: Path, table: str, reading: Reading | None, work: Path) -> tuple[list, list]:
    """The staged rows and the lines of unparseable ones (the directory always has one)."""
    _, columns, required = FILES[table]
    work.mkdir(parents=True)
    con = connect(work)
    staged = stage_file(con, path, 0, work, required, columns, reading)
    rows = con.execute(f"SELECT * FROM '{staged.staged_path}'").fetchall()
    con.close()
    return rows, [row["line"] for row in staged.unparseable]


def test_every_contract_column_survives_the_round_trip_through_the_profile(tmp_path):
    contract, profiled = tmp_path / "contract", tmp_path / "profiled"
    kwargs = {"plan_lines": {PLAN: 400}, "months": (MONTH,), "defect_rate": 0.0, "seed": 3}
    generate_sample(contract, shapes={}, **kwargs)
    summary = generate_sample(profiled, **kwargs)  # the bundled config: HPSM's own shape
    assert summary[f"{PLAN}/{MONTH}"]["profile"] == "hpsm_pipe"
    active = profile_for_plan(PLAN)
    assert active is not None
    for table, (name, columns, _) in FILES.items():
        plain_file = contract / "landing" / PLAN / MONTH / name
        own_file = profiled / "landing" / PLAN / MONTH / name
        header = plain_file.read_text(encoding="utf-8").splitlines()[0].split(",")
        own_header = own_file.read_bytes().decode("cp1252").splitlines()[0].split("|")
        assert set(header) & set(own_header) == set(), f"{table}: no contract name is left"
        # Every contract column the contract-shaped file holds (whatever the contract lists by
        # then), staged from the plan's shape through the profile, equals the contract file's.
        present = [c for c in columns if c in header]
        assert present == [c for c in header if c in columns] and present
        plain, plain_bad = _staged(plain_file, table, None, tmp_path / "w" / f"{table}_plain")
        mapped, mapped_bad = _staged(
            own_file, table, Reading(active, table, PLAN), tmp_path / "w" / f"{table}_own"
        )
        assert len(mapped) == len(plain) > 0 and mapped_bad == plain_bad
        at = [columns.index(c) for c in present]
        for number, (want, got) in enumerate(zip(plain, mapped, strict=True), start=2):
            differs = [columns[i] for i in at if want[i] != got[i]]
            assert not differs, f"{table} line {number}: {differs}"  # column names, no values
    raw = (profiled / "landing" / PLAN / MONTH / "encounters.csv").read_bytes()
    assert "–".encode("cp1252") in raw and b"$" in raw and b"PROF|ORIG" in raw


def test_a_column_the_profile_does_not_name_passes_through(tmp_path):
    """A contract column added later (as issue 14's optional claim-level columns were, before the
    profile named them) or any column the profile does not rename keeps its name and its values
    in the plan's shape."""
    generate_sample(tmp_path, plan_lines={PLAN: 60}, months=(MONTH,), seed=2, shapes={})
    folder = tmp_path / "landing" / PLAN / MONTH
    path = folder / "encounters.csv"
    lines = path.read_text(encoding="utf-8").splitlines()
    added = [lines[0] + ",a_later_contract_column"]
    added += [f"{line},{number % 7:02d}" for number, line in enumerate(lines[1:])]
    path.write_text("\n".join(added) + "\n", encoding="utf-8")
    active = profile_for_plan(PLAN)
    assert active is not None
    reshape_month(folder, active)

    text = path.read_bytes().decode("cp1252")
    rows = list(csv.DictReader(io.StringIO(text), delimiter="|"))
    assert len(rows) == len(lines) - 1
    assert [r["a_later_contract_column"] for r in rows] == [
        f"{n % 7:02d}" for n in range(len(rows))
    ]
    assert list(rows[0])[-2:] == ["a_later_contract_column", STATUS_COLUMN]
    assert {r["CLM_TYPE"] for r in rows} <= {"PROF", "INST"}


def test_parquet_lands_in_the_profiles_names_and_codes(tmp_path):
    generate_sample(tmp_path, plan_lines={PLAN: 80}, months=(MONTH,), file_format="parquet")
    table = pq.read_table(tmp_path / "landing" / PLAN / MONTH / "encounters.parquet")
    assert {"CLAIM_NBR", "DX_CODES", "MODS", STATUS_COLUMN} <= set(table.column_names)
    assert "claim_id" not in table.column_names
    assert set(table.column("CLM_TYPE").to_pylist()) <= {"PROF", "INST"}


def test_a_profile_that_cannot_be_inverted_is_refused_before_anything_is_written(
    tmp_path, monkeypatch
):
    config = tmp_path / "config"
    config.mkdir()
    (config / "profiles.yaml").write_text(
        "profiles: {p: {encounters: {constants: {plan_code: '{plan}'}}}}\nplans: {CHG: p}\n",
        encoding="utf-8",
    )
    monkeypatch.setenv("CALAIM_CONFIG_DIR", str(config))
    with pytest.raises(ProfileNotInvertible, match="profile 'p' \\(encounters\\): constants"):
        generate_sample(tmp_path / "data", plan_lines={"CHG": 10}, months=(MONTH,))
    assert not (tmp_path / "data" / "landing").exists()
    shutil.rmtree(config)


@pytest.mark.parametrize("encoding", ["cp1252", "latin-1"])
def test_the_re_encoding_equals_pythons_codec_byte_for_byte(tmp_path, monkeypatch, encoding):
    """Sparse and dense non-ASCII, few or many distinct values, undefined bytes (0x81 in cp1252)
    and chunk edges: the fast re-encoding writes exactly what Python's codec would (undefined
    bytes passed through)."""
    import random

    from calaim_pipeline.ingest import profile_sql

    monkeypatch.setattr(profile_sql, "CHUNK", 97)  # many chunks, edges anywhere
    rng = random.Random(15)
    for density in (0.0, 0.002, 0.05, 0.6):
        data = bytes(
            rng.randrange(0x80, 0x100) if rng.random() < density else rng.choice(b"AZ|09\n")
            for _ in range(5000)
        )
        source = tmp_path / f"in_{density}.csv"
        source.write_bytes(data)
        copied = profile_sql.utf8_copy(source, encoding, tmp_path / f"out_{density}.csv")
        expected = data.decode(encoding, "surrogateescape").encode("utf-8", "surrogateescape")
        assert copied.read_bytes() == expected, density
    # Few distinct non-ASCII bytes (replaced in place), some of whose UTF-8 forms hold another
    # one (0x80 -> E2 82 AC, 0x96 -> E2 80 93), and a chunk with no free placeholder byte.
    controls = bytes(b for b in range(1, 32) if b not in (10, 13))
    for distinct in (b"\x96", b"\x96\x80", b"\x80\xac\x82\x93", b"\x81\x96", b"\xe9\xc3\xa9"):
        for extra in (b"", controls):
            data = extra + bytes(
                rng.choice(distinct) if rng.random() < 0.05 else rng.choice(b"AZ|09\n")
                for _ in range(5000)
            )
            source = tmp_path / "few.csv"
            source.write_bytes(data)
            copied = profile_sql.utf8_copy(source, encoding, tmp_path / "few_out.csv")
            expected = data.decode(encoding, "surrogateescape").encode("utf-8", "surrogateescape")
            assert copied.read_bytes() == expected, (distinct, extra)


def test_only_the_profiled_plans_landing_files_change(tmp_path):
    """The other plans' files and every truth file (HPSM's too: same lines) are byte for byte
    those of the contract-shaped sample."""

    def files(root: Path) -> dict[str, bytes]:
        return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}

    kwargs = {"plan_lines": {"CHG": 300, PLAN: 200, "LACARE": 300}, "months": ("2026-08", MONTH)}
    generate_sample(tmp_path / "contract", shapes={}, **kwargs)
    generate_sample(tmp_path / "bundled", **kwargs)
    contract, bundled = files(tmp_path / "contract"), files(tmp_path / "bundled")
    assert contract.keys() == bundled.keys()
    changed = sorted(k for k in contract if contract[k] != bundled[k])
    assert changed == sorted(k for k in contract if k.startswith(f"landing/{PLAN}/"))
    assert len(changed) == 6  # encounters, members, providers of two months


def test_an_ascii_only_windows_1252_file_is_staged_without_a_copy(tmp_path, monkeypatch):
    """Claims extracts are mostly codes: a cp1252 file without a byte >= 0x80 is its own UTF-8
    and is read in place; one with free text gets its UTF-8 copy, removed once the file is
    staged and numbered. Both stage the same rows."""
    from calaim_pipeline.ingest import profile_sql, reader

    copied_to: list[Path] = []

    def spy(source: Path, encoding: str, target: Path) -> Path:
        copied_to.append(target)
        return profile_sql.utf8_copy(source, encoding, target)

    monkeypatch.setattr(reader, "utf8_copy", spy)
    generate_sample(tmp_path, plan_lines={PLAN: 300}, months=(MONTH,), seed=4)
    path = tmp_path / "landing" / PLAN / MONTH / "encounters.csv"
    ascii_only = tmp_path / "ascii" / "encounters.csv"
    ascii_only.parent.mkdir()
    ascii_only.write_bytes(path.read_bytes().replace("–".encode("cp1252"), b"-"))
    assert not path.read_bytes().isascii() and ascii_only.read_bytes().isascii()
    active = profile_for_plan(PLAN)
    assert active is not None
    reading = Reading(active, "encounters", PLAN)
    staged = {}
    for name, source in (("copied", path), ("in_place", ascii_only)):
        work = tmp_path / "w" / name
        work.mkdir(parents=True)
        con = connect(work)
        result = stage_file(con, source, 0, work, ALWAYS_REQUIRED, ENCOUNTER_COLUMNS, reading)
        staged[name] = con.execute(f"SELECT * FROM '{result.staged_path}'").fetchall()
        con.close()
        copies = [target for target in copied_to if target.parent == work]
        assert copies if name == "copied" else not copies, name
        assert not list(work.glob("*.utf8.csv")), name
    assert staged["copied"] == staged["in_place"] and staged["copied"]
