"""The sample generator: deterministic, every rule covered, and a truth file that points at real rows.

The truth file is the answer key the pipeline is tested against, so these tests check the key itself:
that each entry names a physical line that exists and carries the claim it says, that the defects
cover the whole line-rule catalog, and that what the key calls clean really is (roster, providers,
duplicate keys).
"""

from __future__ import annotations

import csv
import gzip
import io
import re
from collections import defaultdict
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import yaml

from calaim_pipeline.ingest.contract import ENCOUNTER_COLUMNS
from calaim_pipeline.sample import DEFAULT_MONTHS, TRUTH_COLUMNS, generate_sample
from calaim_pipeline.sample import generator as sample_generator
from calaim_pipeline.sample.incidents import DEMO_INCIDENTS, Incident
from calaim_pipeline.settings import load_thresholds

RULES_YAML = Path(__file__).resolve().parent.parent / "calaim_pipeline" / "catalog" / "rules.yaml"
SMALL = {"CHG": 300, "HPSM": 200, "LACARE": 500}
CIN_RE = re.compile(r"9[0-9]{7}[AC-HMNT-Z]")
COL = {name: i for i, name in enumerate(ENCOUNTER_COLUMNS)}


def luhn_npi_ok(npi: str) -> bool:
    """Independent NPI check (CMS: Luhn over '80840' + the 10 digits, check digit included)."""
    if not (len(npi) == 10 and npi.isdigit() and npi[0] in "12"):
        return False
    total = 0
    for position, char in enumerate(reversed("80840" + npi)):
        digit = int(char)
        if position % 2 == 1:
            digit *= 2
            if digit > 9:
                digit -= 9
        total += digit
    return total % 10 == 0


def all_files(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


def read_truth(root: Path, plan: str, month: str) -> list[dict[str, str]]:
    with (root / "truth" / plan / month / "truth.csv").open(encoding="utf-8", newline="") as fh:
        reader = csv.DictReader(fh)
        assert tuple(reader.fieldnames or ()) == TRUTH_COLUMNS
        return list(reader)


def physical_lines(path: Path) -> list[bytes]:
    """The file's physical lines (index 0 = line 1, the header)."""
    data = gzip.decompress(path.read_bytes()) if path.name.endswith(".gz") else path.read_bytes()
    assert data.endswith(b"\n")
    return data[:-1].split(b"\n")


def parse_line(raw: bytes) -> list[str]:
    return next(csv.reader([raw.decode("utf-8", "surrogateescape")]))


@pytest.fixture(scope="module")
def defect_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    """Default months, small plans, half the claims defective, two files per month, every plan
    in the contract's shape (this module checks the generator's own output and its truth; the
    profiled shape of HPSM is checked in test_sample_profiled)."""
    root = tmp_path_factory.mktemp("defects")
    summary = generate_sample(
        root, seed=7, plan_lines=SMALL, defect_rate=0.5, files_per_month=2, shapes={}
    )
    return root, summary


def test_same_seed_same_bytes(tmp_path: Path) -> None:
    kwargs = {"seed": 3, "plan_lines": SMALL, "defect_rate": 0.2, "files_per_month": 2}
    generate_sample(tmp_path / "a", **kwargs)
    generate_sample(tmp_path / "b", **kwargs)
    first, second = all_files(tmp_path / "a"), all_files(tmp_path / "b")
    assert first.keys() == second.keys()
    assert first == second
    generate_sample(tmp_path / "c", **{**kwargs, "seed": 4})
    assert all_files(tmp_path / "c") != first


@pytest.mark.parametrize("file_format", ["csv", "csv.gz", "parquet"])
def test_formats(tmp_path: Path, file_format: str) -> None:
    months = ("2026-08", "2026-09")
    kwargs = {"months": months, "plan_lines": {"CHG": 150}, "file_format": file_format}
    summary = generate_sample(tmp_path / "a", **kwargs)
    generate_sample(tmp_path / "b", **kwargs)
    assert all_files(tmp_path / "a") == all_files(tmp_path / "b")
    for month in months:
        folder = tmp_path / "a" / "landing" / "CHG" / month
        encounters = folder / f"encounters.{file_format}"
        assert sorted(p.name for p in folder.iterdir()) == sorted(
            [encounters.name, "members.csv", "providers.csv"]
        )
        if file_format == "parquet":
            table = pq.read_table(encounters)
            assert tuple(table.column_names) == ENCOUNTER_COLUMNS
            assert {str(t) for t in table.schema.types} == {"string"}
            rows = table.num_rows
        else:
            lines = physical_lines(encounters)
            assert lines[0].decode() == ",".join(ENCOUNTER_COLUMNS)
            rows = len(lines) - 1
        assert rows == summary[f"CHG/{month}"]["lines"] == 150
        assert (tmp_path / "a" / "truth" / "CHG" / month / "truth.csv").is_file()


def test_every_line_rule_is_covered(defect_run: tuple[Path, dict]) -> None:
    root, summary = defect_run
    with RULES_YAML.open(encoding="utf-8") as fh:
        rules = yaml.safe_load(fh)["rules"]
    # Roster rules judge roster rows, which the truth (encounter lines) does not list.
    expected = {r["id"] for r in rules if r.get("stage") not in ("ledger", "claim", "roster")}
    seen: set[str] = set()
    for key in summary:
        plan, month = key.split("/")
        for row in read_truth(root, plan, month):
            seen |= {r for r in (row["reject_rules"] + "|" + row["warn_rules"]).split("|") if r}
    assert expected <= seen, f"never injected: {sorted(expected - seen)}"
    assert seen - expected <= {"CLAIM_HAS_REJECTED_LINE"}


def test_truth_rows_point_at_real_lines(defect_run: tuple[Path, dict]) -> None:
    root, summary = defect_run
    with RULES_YAML.open(encoding="utf-8") as fh:
        warn_rules = {r["id"] for r in yaml.safe_load(fh)["rules"] if r["severity"] == "warn"}
    for key, stats in summary.items():
        plan, month = key.split("/")
        folder = root / "landing" / plan / month
        assert stats["files"] == ["encounters_1.csv", "encounters_2.csv"]
        lines = {name: physical_lines(folder / name) for name in stats["files"]}
        assert sum(len(v) - 1 for v in lines.values()) == stats["lines"]
        claims_rejected: dict[str, set[str]] = defaultdict(set)
        for row in read_truth(root, plan, month):
            raw = lines[row["source_file"]][int(row["source_row"]) - 1]
            fields = parse_line(raw)
            assert fields[COL["claim_id"]] == row["claim_id"]
            assert fields[COL["line_number"]] == row["line_number"]
            rejects = set(filter(None, row["reject_rules"].split("|")))
            warns = set(filter(None, row["warn_rules"].split("|")))
            assert row["outcome"] == ("rejected" if rejects else "accepted")
            assert warns <= warn_rules and not rejects & warn_rules
            assert row["reject_rules"] == "|".join(sorted(rejects))
            if "CLAIM_HAS_REJECTED_LINE" in rejects:
                assert rejects == {"CLAIM_HAS_REJECTED_LINE"} and not warns
            if "ROW_UNPARSEABLE" in rejects:
                assert rejects == {"ROW_UNPARSEABLE"} and not warns
                assert len(fields) != len(ENCOUNTER_COLUMNS) or b"\xff" in raw
            else:
                assert len(fields) == len(ENCOUNTER_COLUMNS)
                raw.decode("utf-8")  # only the planted bad byte may be undecodable
            if rejects:
                claims_rejected[row["claim_id"]].add(row["source_row"])
        # claim atomicity: every line of a claim with a rejected line is in the truth as rejected
        for name, file_lines in lines.items():
            for number, raw in enumerate(file_lines[1:], start=2):
                claim_id = parse_line(raw)[COL["claim_id"]]
                if claim_id in claims_rejected:
                    assert str(number) in claims_rejected[claim_id], (name, number)


def test_parquet_truth_rows(tmp_path: Path) -> None:
    kwargs = {"plan_lines": {"HPSM": 400}, "defect_rate": 0.3, "file_format": "parquet"}
    kwargs["shapes"] = {}  # the contract's column names (HPSM's own shape: test_sample_profiled)
    generate_sample(tmp_path, months=DEFAULT_MONTHS[:2], **kwargs)
    for month in DEFAULT_MONTHS[:2]:
        table = pq.read_table(tmp_path / "landing" / "HPSM" / month / "encounters.parquet")
        claim_ids = table.column("claim_id").to_pylist()
        truth = read_truth(tmp_path, "HPSM", month)
        assert truth
        for row in truth:
            assert row["source_file"] == "encounters.parquet"
            assert claim_ids[int(row["source_row"]) - 2] == row["claim_id"]
            assert "ROW_UNPARSEABLE" not in row["reject_rules"]


def test_providers_have_valid_npis(defect_run: tuple[Path, dict]) -> None:
    root, summary = defect_run
    assert luhn_npi_ok("1234567893") and not luhn_npi_ok("1234567898")  # CMS's own examples
    for key in summary:
        plan, month = key.split("/")
        with (root / "landing" / plan / month / "providers.csv").open(newline="") as fh:
            providers = list(csv.DictReader(fh))
        assert 150 <= len(providers) <= 1000
        assert all(luhn_npi_ok(p["npi"]) for p in providers)
        assert len({p["npi"] for p in providers}) == len(providers)
        billing_ready = [p for p in providers if re.fullmatch(r"\d{9}", p["tax_id"] or "x")]
        assert all(p["entity_type"] in ("1", "2") for p in providers)
        assert sum(1 for p in billing_ready if re.fullmatch(r"\d{9}", p["zip"])) >= 30


def test_clean_rows_are_clean(tmp_path: Path) -> None:
    """Rows the truth leaves out: member enrolled on the service date, billing NPI billable, valid
    NPIs, and no duplicate service-line key across all months of the plan."""
    summary = generate_sample(tmp_path, seed=11, plan_lines={"CHG": 1500}, defect_rate=0.05)
    keys: set[tuple] = set()
    claims_by_month: dict[str, set[str]] = {}
    for key, stats in summary.items():
        plan, month = key.split("/")
        folder = tmp_path / "landing" / plan / month
        with (folder / "members.csv").open(newline="") as fh:
            members = list(csv.DictReader(fh))
        spans: dict[str, list[tuple[str, str]]] = defaultdict(list)
        for member in members:
            assert CIN_RE.fullmatch(member["member_cin"])
            spans[member["member_cin"]].append(
                (member["enrollment_start"], member["enrollment_end"] or "9999-12-31")
            )
        assert len(spans) == stats["members"]
        assert 0.1 <= stats["claims"] / stats["members"] <= 20
        with (folder / "providers.csv").open(newline="") as fh:
            billable = {
                p["npi"]
                for p in csv.DictReader(fh)
                if re.fullmatch(r"\d{9}", p["tax_id"]) and re.fullmatch(r"\d{9}", p["zip"])
            }
        flagged = {int(r["source_row"]) for r in read_truth(tmp_path, plan, month)}
        lines = physical_lines(folder / "encounters.csv")
        claims_by_month[month] = set()
        for number, raw in enumerate(lines[1:], start=2):
            if number in flagged:
                continue
            row = parse_line(raw)
            get = row.__getitem__
            claims_by_month[month].add(get(COL["claim_id"]))
            service = get(COL["service_from_date"])
            assert any(s <= service <= e for s, e in spans[get(COL["member_cin"])])
            assert get(COL["billing_npi"]) in billable
            assert get(COL["paid_date"]).startswith(month)
            if get(COL["frequency_code"]) in ("7", "8"):
                original = get(COL["original_claim_id"])
                earlier = [m for m in claims_by_month if m < month]
                assert earlier and any(original in claims_by_month[m] for m in earlier)
                continue
            modifiers = tuple(
                sorted(m for m in row[COL["modifier_1"] : COL["modifier_4"] + 1] if m)
            )
            dup_key = (
                *(get(COL[c]) for c in ("member_cin", "billing_npi", "rendering_npi")),
                service,
                *(get(COL[c]) for c in ("procedure_code", "revenue_code")),
                modifiers,
            )
            assert dup_key not in keys
            keys.add(dup_key)
    volumes = [stats["lines"] for stats in summary.values()]
    assert max(volumes) <= 1.2 * min(volumes)
    assert sum(s["replacements"] + s["voids"] for s in summary.values()) > 0


def test_workers_write_the_same_bytes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    kwargs = {"months": DEFAULT_MONTHS[:2], "plan_lines": {"LACARE": 6000}, "defect_rate": 0.1}
    monkeypatch.setenv("CALAIM_SAMPLE_WORKERS", "0")
    generate_sample(tmp_path / "serial", **kwargs)
    monkeypatch.setenv("CALAIM_SAMPLE_WORKERS", "2")
    monkeypatch.setattr(sample_generator, "PARALLEL_MIN_LINES", 1000)
    generate_sample(tmp_path / "parallel", **kwargs)
    assert all_files(tmp_path / "serial") == all_files(tmp_path / "parallel")


def test_bad_arguments(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown plan"):
        generate_sample(tmp_path, plan_lines={"NOPE": 10})
    with pytest.raises(ValueError, match="YYYY-MM"):
        generate_sample(tmp_path, months=("2026-13",))
    with pytest.raises(ValueError, match="increasing"):
        generate_sample(tmp_path, months=("2026-09", "2026-08"))
    with pytest.raises(ValueError, match="file_format"):
        generate_sample(tmp_path, file_format="xlsx")
    assert not any(tmp_path.iterdir())


def test_gzip_is_plain_csv_inside(tmp_path: Path) -> None:
    kwargs = {"months": ("2026-09",), "plan_lines": {"CHG": 120}, "defect_rate": 0.0}
    generate_sample(tmp_path / "gz", file_format="csv.gz", **kwargs)
    generate_sample(tmp_path / "csv", **kwargs)
    folder = Path("landing") / "CHG" / "2026-09"
    packed = (tmp_path / "gz" / folder / "encounters.csv.gz").read_bytes()
    plain = (tmp_path / "csv" / folder / "encounters.csv").read_bytes()
    assert gzip.decompress(packed) == plain
    assert list(csv.reader(io.StringIO(plain.decode())))[1][0] == "CHG"
    assert read_truth(tmp_path / "csv", "CHG", "2026-09") == []


def test_bundled_sample_has_a_failing_a_warning_and_a_correcting_month(tmp_path: Path) -> None:
    """What the guides walk through: CHG 2026-09 fails reject_rate (ERROR), CHG 2026-08 warns on
    duplicates, and the later months replace and void claims of the month before."""
    chg = {"CHG": sample_generator.DEFAULT_PLAN_LINES["CHG"]}
    summary = generate_sample(tmp_path / "chg", plan_lines=chg, incidents=DEMO_INCIDENTS)
    checks = load_thresholds().checks
    failing, warning = summary["CHG/2026-09"], summary["CHG/2026-08"]
    assert failing["rows_rejected"] / failing["lines"] > checks.value("reject_rate_max")
    assert failing["rule_rows"]["ICD10_NOT_BILLABLE"] > failing["lines"] * 0.1
    assert "ICD-10-CM category codes" in failing["incident"]
    duplicates = warning["rule_rows"]["DUPLICATE_LINE_IN_MONTH"]
    assert duplicates / warning["lines"] > checks.value("duplicate_rate_max")
    assert warning["rows_rejected"] / warning["lines"] < checks.value("reject_rate_max")
    for month in ("2026-07", "2026-08", "2026-09"):
        assert summary[f"CHG/{month}"]["replacements"] > 0 and summary[f"CHG/{month}"]["voids"] > 0
    assert "incident" not in summary["CHG/2026-07"]

    # A plan's files do not depend on the other plans generated with it: CHG alone (the docs'
    # sample, tables_doc) is byte for byte the CHG of the bundled sample.
    generate_sample(tmp_path / "two", plan_lines={**chg, "HPSM": 50}, incidents=DEMO_INCIDENTS)
    alone = all_files(tmp_path / "chg")
    with_other = all_files(tmp_path / "two")
    assert alone == {k: v for k, v in with_other.items() if "/HPSM/" not in f"/{k}"}


def test_incidents_leave_other_months_and_are_checked(tmp_path: Path) -> None:
    kwargs = {"plan_lines": {"CHG": 300}, "months": ("2026-08", "2026-09"), "seed": 5}
    generate_sample(tmp_path / "plain", **kwargs)
    generate_sample(
        tmp_path / "incident", **kwargs, incidents={"CHG/2026-09": DEMO_INCIDENTS["CHG/2026-09"]}
    )
    plain, incident = all_files(tmp_path / "plain"), all_files(tmp_path / "incident")
    same = [k for k in plain if "2026-08" in k]
    assert same and all(plain[k] == incident[k] for k in same)
    assert (
        plain["landing/CHG/2026-09/encounters.csv"]
        != incident["landing/CHG/2026-09/encounters.csv"]
    )
    with pytest.raises(ValueError, match="no defect kind trips 'NOPE'"):
        generate_sample(
            tmp_path / "bad", **kwargs, incidents={"CHG/2026-09": Incident("NOPE", 0.1, "x")}
        )
    with pytest.raises(ValueError, match="PLAN/YYYY-MM"):
        generate_sample(
            tmp_path / "bad", **kwargs, incidents={"CHG": Incident("CIN_FORMAT", 0.1, "x")}
        )
