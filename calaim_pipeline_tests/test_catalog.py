"""The rules and tables catalog loaders: one error format, SQL compiled at load, the fingerprint.

Fast: no data runs. Each case plants one mistake in a copy of the bundled rules.yaml.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from calaim_pipeline import catalog, tables_doc
from calaim_pipeline.catalog import (
    RULES_PATH,
    CatalogError,
    catalog_fingerprint,
    load_rules,
    load_rules_at,
)

pytestmark = pytest.mark.fast

RULES_TEXT = RULES_PATH.read_text(encoding="utf-8")


def planted(tmp_path: Path, old: str, new: str) -> Path:
    assert RULES_TEXT.count(old) == 1, f"{old!r} should occur once in rules.yaml"
    path = tmp_path / "rules.yaml"
    path.write_text(RULES_TEXT.replace(old, new), encoding="utf-8")
    return path


def problems_of(path: Path, *, compile_sql: bool = True) -> list[str]:
    with pytest.raises(CatalogError) as raised:
        load_rules_at(path, compile_sql=compile_sql)
    head, *lines = str(raised.value).splitlines()
    assert head == f"{path}: invalid rules catalog"
    assert all(line.startswith("  ") for line in lines)
    return [line.strip() for line in lines]


@pytest.fixture
def fresh_catalog() -> Iterator[None]:
    """The cached bundled catalog is dropped before and after the test."""
    catalog.load_catalog.cache_clear()
    yield
    catalog.load_catalog.cache_clear()


def test_a_typo_in_a_when_fails_loading_naming_the_rule(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fresh_catalog: None
) -> None:
    path = planted(tmp_path, "greatest(d_received, d_paid", "greatest(d_recieved, d_paid")
    monkeypatch.setattr(catalog, "RULES_PATH", path)
    with pytest.raises(CatalogError) as raised:
        load_rules()
    assert re.fullmatch(
        rf"{re.escape(str(path))}: invalid rules catalog\n"
        r"  rules\.\d+\(DATE_IN_FUTURE\)\.when: does not compile: Binder Error: "
        r'Referenced column "d_recieved" not found.*',
        str(raised.value),
    )


def test_a_bad_detail_or_a_when_that_is_no_condition_is_named(tmp_path: Path) -> None:
    path = planted(tmp_path, "array_to_string(bad_dates", "array_to_strng(bad_dates")
    (problem,) = problems_of(path)
    assert problem.startswith("rules.20(DATE_UNPARSEABLE).detail: does not compile: Catalog Error")
    path = planted(tmp_path, "when: d_to < d_from", "when: d_to + 1")
    assert problems_of(path) == [
        "rules.22(SERVICE_TO_BEFORE_FROM).when: is DATE, not a true/false condition"
    ]


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        (
            "  - id: CIN_FORMAT\n",
            "  - id: CIN_FORMAT\n    colour: red\n",
            "rules.6(CIN_FORMAT).colour: Extra inputs are not permitted",
        ),
        (
            "  - id: CIN_FORMAT\n    family: validity",
            "  - id: CIN_FORMAT\n    family: validty",
            "rules.6(CIN_FORMAT).family: Input should be 'completeness', 'validity', "
            "'consistency', 'uniqueness', 'timeliness', 'reasonability' or 'referential'",
        ),
        (
            "    stage: claim\n",
            "    stage: claim\n    when: 'true'\n",
            "rules.49(CLAIM_HAS_REJECTED_LINE): line and ledger rules need 'when'; "
            "other stages must not have it",
        ),
        (
            "fail: [{units: '0'}, {units: two}]",
            "fail: [{units: 0}, {units: two}]",
            "rules.26(UNITS_INVALID).examples.fail.0.lines.0.units: "
            "0: write extract values as quoted text (YAML read a int)",
        ),
        (
            "fail: [{units: '0'}, {units: two}]",
            "fail: [{unit: '0'}, {units: two}]",
            "rules.26(UNITS_INVALID).examples.fail.0.lines.0: not encounter column(s): unit",
        ),
        (
            "      fail: [{member_cin: 91234567B}]\n",
            "",
            "rules.6(CIN_FORMAT).examples.fail: Field required",
        ),
        (
            "also: UNITS_INVALID",
            "also: UNITS_INVALD",
            "rules.49(CLAIM_HAS_REJECTED_LINE).examples.fail.0.also: "
            "not rule ids of this catalog: UNITS_INVALD",
        ),
        (
            "  - id: CIN_FORMAT\n",
            "  - id: CLAIM_ID_FORMAT\n",
            "rules: rule ids repeat: CLAIM_ID_FORMAT",
        ),
    ],
    ids=[
        "unknown-key",
        "bad-family",
        "when-on-claim-rule",
        "unquoted-value",
        "unknown-column",
        "missing-fail",
        "unknown-also",
        "repeated-id",
    ],
)
def test_format_errors_name_the_file_rule_and_key(
    tmp_path: Path, old: str, new: str, expected: str
) -> None:
    assert problems_of(planted(tmp_path, old, new), compile_sql=False) == [expected]


def test_the_bundled_catalog_loads_with_its_version() -> None:
    loaded = catalog.load_catalog()
    assert loaded.version == 1
    assert len(load_rules()) == len({rule.id for rule in loaded.rules})
    assert all(rule.rejects == (rule.severity == "reject") for rule in loaded.rules)


def test_the_fingerprint_follows_what_decides_a_verdict(tmp_path: Path) -> None:
    bundled = catalog_fingerprint()
    assert re.fullmatch(r"[0-9a-f]{64}", bundled)
    assert catalog_fingerprint(load_rules_at(RULES_PATH, compile_sql=False)) == bundled

    def fingerprint(old: str, new: str) -> str:
        return catalog_fingerprint(load_rules_at(planted(tmp_path, old, new), compile_sql=False))

    # Comments and examples test or explain a rule; they do not change what it decides.
    assert fingerprint("# The line-rule catalog", "# The rule catalog") == bundled
    assert fingerprint("pass: [{units: '1.5'}]", "pass: [{units: '2.5'}]") == bundled
    assert fingerprint("when: n_paid > n_billed", "when: n_paid >= n_billed") != bundled
    assert (
        fingerprint(
            "    severity: warn\n    description: the plan paid",
            "    severity: reject\n    description: the plan paid",
        )
        != bundled
    )


def test_tables_catalog_errors_have_the_same_format() -> None:
    with pytest.raises(tables_doc.TablesCatalogError) as raised:
        tables_doc.parse_catalog(
            {
                "intro": "x",
                "colour": "red",
                "tables": {"members": {"grain": " ", "description": "d", "examples": [{}]}},
            }
        )
    assert str(raised.value).splitlines() == [
        f"{tables_doc.CATALOG}: invalid tables catalog",
        "  tables.members.grain: String should have at least 1 character",
        "  tables.members.examples.0.title: Field required",
        "  tables.members.examples.0.sql: Field required",
        "  colour: Extra inputs are not permitted",
    ]


def test_tables_catalog_keeps_its_api() -> None:
    loaded = tables_doc.load_catalog()
    members = loaded.tables["members"]
    assert members.name == "members"
    assert members.columns["plan_code"] == loaded.shared_columns["plan_code"]
    assert all(isinstance(text, str) and text for text in members.columns.values())
    assert all(example.sql and example.title for _, example in tables_doc.all_examples(loaded))
