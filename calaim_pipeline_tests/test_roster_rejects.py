"""Broken roster rows never vanish (issue 9, item 3): each ends in members/providers or in
roster_rejects with its file and physical line, the rosters_reconcile check counts them, and the
encounter lines that depend on them say so instead of "not enrolled" / "unknown provider".

Every case is a real drop run through the real Dagster job; no member data may appear in the
check metadata, the run's logs or a raised message.
"""

from __future__ import annotations

import json

import dagster as dg
import duckdb

from calaim_pipeline.ingest.contract import MEMBER_COLUMNS, PROVIDER_COLUMNS
from calaim_pipeline.lake import LAKE_TABLES, partition_file, read_metrics
from calaim_pipeline.validation.lookups import npi_check_digit_ok
from calaim_pipeline_tests.conftest import run_partition
from calaim_pipeline_tests.drops import (
    BILLING_NPI,
    MEMBER_CIN,
    claims,
    landing,
    professional_line,
    write_csv,
)

PLAN, MONTH = "CHG", "2026-09"
CINS = [MEMBER_CIN] + [f"9{i:07d}A" for i in range(1, 8)]  # member i of the roster
LAST_NAMES = [f"QUIRKNAME{chr(65 + i)}" for i in range(len(CINS))]  # searched for in the logs
OTHER_NPI = next(f"123456780{d}" for d in range(10) if npi_check_digit_ok(f"123456780{d}"))


def _csv_line(values: list[str]) -> bytes:
    return (",".join(values) + "\n").encode("utf-8")


def member_line(i: int, **overrides: str) -> bytes:
    row = {
        "member_cin": CINS[i],
        "last_name": LAST_NAMES[i],
        "first_name": "ANNA",
        "birth_date": "1980-01-01",
        "gender": "F",
        "address_line_1": "1 MAIN ST",
        "city": "SAN DIEGO",
        "state": "CA",
        "zip": "921010000",
        "county_code": "37",
        "enrollment_start": "2020-01-01",
        "enrollment_end": "",
    } | overrides
    return _csv_line([row[c] for c in MEMBER_COLUMNS])


def provider_line(npi: str, name: str = "CLINIC", **overrides: str) -> bytes:
    row = {
        "npi": npi,
        "entity_type": "2",
        "name": name,
        "first_name": "",
        "taxonomy": "207Q00000X",
        "tax_id": "123456789",
        "address_line_1": "1 A ST",
        "city": "SAN DIEGO",
        "state": "CA",
        "zip": "921010000",
    } | overrides
    return _csv_line([row[c] for c in PROVIDER_COLUMNS])


def write_roster(path, columns, lines: list[bytes]) -> None:
    path.write_bytes(_csv_line(list(columns)) + b"".join(lines))


def drop(data_root, members: list[bytes], providers: list[bytes], dependents: dict) -> None:
    """60 clean claims for member 0 at BILLING_NPI, plus one 2-line claim per dependent
    (name -> overrides such as member_cin or billing_npi), so the reject rate stays under 10%."""
    folder = landing(data_root.root, PLAN, MONTH)
    write_roster(folder / "members.csv", MEMBER_COLUMNS, members)
    write_roster(folder / "providers.csv", PROVIDER_COLUMNS, providers)
    rows = claims(60)
    for n, (claim_id, overrides) in enumerate(dependents.items()):
        for line in (1, 2):
            rows.append(
                professional_line(
                    claim_id, line, service_from_date=f"2026-08-{10 + n:02d}", **overrides
                )
                | {"procedure_code": ["99213", "99214"][line - 1]}
            )
    write_csv(folder / "encounters.csv", rows)


def lake(data_root, table: str, columns: str, where: str = "true") -> list[tuple]:
    path = partition_file(data_root.lake, table, PLAN, MONTH)
    return duckdb.sql(f"SELECT {columns} FROM '{path}' WHERE {where} ORDER BY ALL").fetchall()


def line_reasons(data_root) -> dict[str, set[tuple]]:
    """claim id -> {(rule_ids, details)} of its rejected lines."""
    found: dict[str, set[tuple]] = {}
    for claim_id, rule_ids, details in lake(
        data_root, "encounter_rejects", "claim_id, rule_ids, details"
    ):
        found.setdefault(claim_id, set()).add((tuple(rule_ids), details))
    return found


def check(result: dg.ExecuteInProcessResult, name: str) -> dg.AssetCheckEvaluation:
    return next(e for e in result.get_asset_check_evaluations() if e.check_name == name)


def assert_no_member_data(instance: dg.DagsterInstance, *texts: str) -> None:
    """No CIN or member name in the instance's logs (check metadata included) or messages."""
    logged = [
        json.dumps(r.to_dict() if hasattr(r, "to_dict") else str(r), default=str)
        for run in instance.get_runs()
        for r in instance.all_logs(run.run_id)
    ]
    for text in [*logged, *texts]:
        for secret in [*CINS, *LAST_NAMES]:
            assert secret not in text, "member data leaked into logs or messages"


def assert_reconciled(data_root, result, roster: str, read: int, kept: int, rejected: int):
    counts = read_metrics(data_root.lake, PLAN, MONTH).rosters[roster]
    assert (counts.rows_read, counts.kept, counts.rejected) == (read, kept, rejected)
    assert counts.reconciles and read == kept + rejected
    assert len(lake(data_root, roster, "source_row")) == kept
    assert len(lake(data_root, "roster_rejects", "source_row", f"roster = '{roster}'")) == rejected
    evaluation = check(result, "rosters_reconcile")
    assert evaluation.passed
    rosters = {r["file"]: r for r in evaluation.metadata["rosters"].value}
    assert rosters[f"{roster}.csv"]["rejected"] == rejected


def test_unterminated_quote_in_members_csv(data_root, instance):
    # Line 3 opens a quote that the quoted field of line 6 closes: DuckDB reads lines 3-6 as one
    # broken record and goes on at line 7. The members of lines 3-6 are in that record.
    members = [
        member_line(0),  # line 2
        member_line(1, last_name=f'"{LAST_NAMES[1]}'),  # line 3: unterminated quote
        member_line(2),  # line 4
        member_line(3),  # line 5
        member_line(4, address_line_1='"1 MAIN ST"'),  # line 6: its quote ends line 3's field
        member_line(5),  # line 7
    ]
    drop(
        data_root,
        members,
        [provider_line(BILLING_NPI)],
        {f"M{i}": {"member_cin": CINS[i]} for i in range(1, 6)},
    )
    result = run_partition(instance, PLAN, MONTH)
    assert result.success, result.all_events

    assert_reconciled(data_root, result, "members", read=3, kept=2, rejected=1)
    assert lake(data_root, "members", "source_row, member_cin") == [(2, CINS[0]), (7, CINS[5])]
    ((row, cin, rules, raw),) = lake(
        data_root, "roster_rejects", "source_row, member_cin, rule_ids, raw_text"
    )
    assert (row, cin, rules) == (3, CINS[1], ["ROSTER_ROW_UNPARSEABLE"])
    assert raw.count("\n") == 3 and LAST_NAMES[4] in raw  # the raw text keeps all four lines
    reasons = line_reasons(data_root)
    for i in range(1, 5):  # keys recovered from every swallowed line
        assert reasons[f"M{i}"] == {
            (
                ("MEMBER_ON_REJECTED_ROSTER_ROW",),
                "MEMBER_ON_REJECTED_ROSTER_ROW: rejected roster row: members.csv line 3",
            )
        }
    assert "M5" not in reasons  # the member after the broken record is enrolled
    assert check(result, "files_readable").metadata["roster_unparseable_lines"].value == {
        "members.csv": [3]
    }
    assert_no_member_data(instance)


def test_windows_1252_name_in_providers_csv(data_root, instance):
    providers = [
        provider_line(BILLING_NPI),  # line 2
        provider_line(OTHER_NPI).replace(b"CLINIC", b"CL\xcdNICA"),  # line 3: cp1252 byte
    ]
    drop(
        data_root,
        [member_line(0)],
        providers,
        {"P1": {"billing_npi": OTHER_NPI}},
    )
    result = run_partition(instance, PLAN, MONTH)
    assert result.success, result.all_events

    assert_reconciled(data_root, result, "providers", read=2, kept=1, rejected=1)
    ((row, npi, rules, details),) = lake(
        data_root, "roster_rejects", "source_row, npi, rule_ids, details"
    )
    assert (row, npi, rules) == (3, OTHER_NPI, ["ROSTER_ROW_UNPARSEABLE"])
    assert "INVALID ENCODING" in details
    assert line_reasons(data_root)["P1"] == {
        (
            ("BILLING_PROVIDER_ON_REJECTED_ROSTER_ROW",),
            "BILLING_PROVIDER_ON_REJECTED_ROSTER_ROW: rejected roster row: providers.csv line 3",
        )
    }
    assert_no_member_data(instance)


def test_roster_rows_with_the_wrong_field_count(data_root, instance):
    members = [
        member_line(0),  # line 2
        member_line(1).replace(b"\n", b",EXTRA\n"),  # line 3: one field too many
        member_line(2),  # line 4
        member_line(3).replace(b",37,", b","),  # line 5: one field short
    ]
    providers = [
        provider_line(BILLING_NPI),
        provider_line(OTHER_NPI).replace(b",CA,", b","),  # line 3: one field short
    ]
    drop(
        data_root,
        members,
        providers,
        {
            "M1": {"member_cin": CINS[1]},
            "M2": {"member_cin": CINS[2]},
            "M3": {"member_cin": CINS[3]},
            "P1": {"billing_npi": OTHER_NPI},
        },
    )
    result = run_partition(instance, PLAN, MONTH)
    assert result.success, result.all_events

    assert_reconciled(data_root, result, "members", read=4, kept=2, rejected=2)
    assert_reconciled(data_root, result, "providers", read=2, kept=1, rejected=1)
    assert lake(data_root, "roster_rejects", "roster, source_row, coalesce(member_cin, npi)") == [
        ("members", 3, CINS[1]),
        ("members", 5, CINS[3]),
        ("providers", 3, OTHER_NPI),
    ]
    reasons = line_reasons(data_root)
    assert {r[0] for r in reasons["M1"]} == {("MEMBER_ON_REJECTED_ROSTER_ROW",)}
    assert {r[0] for r in reasons["M3"]} == {("MEMBER_ON_REJECTED_ROSTER_ROW",)}
    assert {r[0] for r in reasons["P1"]} == {("BILLING_PROVIDER_ON_REJECTED_ROSTER_ROW",)}
    assert "M2" not in reasons
    assert_no_member_data(instance)


def test_roster_rows_failing_the_roster_rules(data_root, instance):
    members = [
        member_line(0),  # line 2
        member_line(1, enrollment_start="2020-02-30"),  # line 3: not a calendar date
        member_line(2, enrollment_end="open"),  # line 4
        member_line(3, member_cin=""),  # line 5: no CIN at all
        member_line(4),  # line 6
    ]
    providers = [provider_line(BILLING_NPI), provider_line("12345")]
    drop(
        data_root,
        members,
        providers,
        {
            "M1": {"member_cin": CINS[1]},
            "M2": {"member_cin": CINS[2]},
            "M3": {"member_cin": CINS[3]},
        },
    )
    result = run_partition(instance, PLAN, MONTH)
    assert result.success, result.all_events

    assert_reconciled(data_root, result, "members", read=5, kept=2, rejected=3)
    assert_reconciled(data_root, result, "providers", read=2, kept=1, rejected=1)
    assert lake(data_root, "roster_rejects", "source_row, member_cin, npi, rule_ids, raw_text") == [
        (3, CINS[1], None, ["ROSTER_ENROLLMENT_START_INVALID"], None),
        (3, None, "12345", ["ROSTER_PROVIDER_NPI_INVALID"], None),
        (4, CINS[2], None, ["ROSTER_ENROLLMENT_END_INVALID"], None),
        (5, None, None, ["ROSTER_MEMBER_CIN_INVALID"], None),
    ]
    reasons = line_reasons(data_root)
    assert {r[0] for r in reasons["M1"]} == {("MEMBER_ON_REJECTED_ROSTER_ROW",)}
    assert {r[0] for r in reasons["M2"]} == {("MEMBER_ON_REJECTED_ROSTER_ROW",)}
    # Member 3's row has no CIN, so nothing ties it to the line: plainly not enrolled.
    assert {r[0] for r in reasons["M3"]} == {("MEMBER_NOT_ENROLLED",)}
    results = {
        r: (checked, failed)
        for r, checked, failed in lake(
            data_root, "rule_results", "rule_id, rows_checked, rows_failed"
        )
    }
    assert results["ROSTER_ENROLLMENT_START_INVALID"] == (5, 1)
    assert results["ROSTER_PROVIDER_NPI_INVALID"] == (2, 1)
    assert results["ROSTER_ROW_UNPARSEABLE"] == (7, 0)
    assert results["MEMBER_ON_REJECTED_ROSTER_ROW"][1] == 4
    assert_no_member_data(instance)


def test_providers_csv_missing_tax_id_column_fails_the_partition(data_root, instance):
    columns = [c for c in PROVIDER_COLUMNS if c != "tax_id"]
    drop(data_root, [member_line(0)], [], {})
    folder = landing(data_root.root, PLAN, MONTH)
    write_csv(
        folder / "providers.csv",
        [{"npi": BILLING_NPI, "entity_type": "2", "name": "CLINIC", "zip": "921010000"}],
        columns,
    )
    result = run_partition(instance, PLAN, MONTH)
    assert not result.success
    message = next(
        e for e in result.all_events if e.is_step_failure
    ).step_failure_data.error.message
    assert "providers.csv: line 1: required column(s) missing from the header: tax_id" in message
    for table in LAKE_TABLES:
        assert not partition_file(data_root.lake, table, PLAN, MONTH).exists(), table
    assert read_metrics(data_root.lake, PLAN, MONTH) is None
    assert list(data_root.work.iterdir()) == [], "scratch files left behind"
    assert_no_member_data(instance, message)
