"""The report authors' table reference (docs/tables.md) matches the real warehouse schema.

A small generated sample (the one the committed page is built from) runs through the real
plan_month_job; the test then opens the warehouse read-only and checks that tables.yaml describes
exactly the columns each view has, that the committed page is what the generator writes, and that
every example query runs (and returns rows where it should).
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from calaim_pipeline import tables_doc
from calaim_pipeline.lake import WAREHOUSE_VIEWS

PROJECT_DIR = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    """The sample's data root, built through the real Dagster job, and a read-only connection to
    its warehouse."""
    base = tmp_path_factory.mktemp("tables_doc")
    home = base / "home"
    home.mkdir()
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CALAIM_DATA_DIR", str(base / "data"))
        with dg.instance_for_test(temp_dir=str(home)) as instance:
            paths = tables_doc.build_sample_warehouse(base / "data", instance=instance)
        con = duckdb.connect(str(paths.warehouse), read_only=True)
        try:
            yield paths, con
        finally:
            con.close()


@pytest.fixture(scope="module")
def warehouse(sample):
    return sample[1]


def test_every_warehouse_table_is_a_view_and_in_the_catalog(warehouse):
    views = {
        name
        for (name,) in warehouse.execute(
            "SELECT view_name FROM duckdb_views() WHERE NOT internal"
        ).fetchall()
    }
    assert views == set(WAREHOUSE_VIEWS)
    assert set(tables_doc.load_catalog().tables) == set(WAREHOUSE_VIEWS)


@pytest.mark.parametrize("table", WAREHOUSE_VIEWS)
def test_catalog_describes_exactly_the_columns_of_the_view(warehouse, table):
    actual = [name for name, _ in tables_doc.described_columns(warehouse, table)]
    described = tables_doc.load_catalog().tables[table].columns
    assert [c for c in actual if c not in described] == [], "columns missing from tables.yaml"
    assert [c for c in described if c not in actual] == [], "stale columns in tables.yaml"


def test_every_shared_column_description_is_used():
    catalog = tables_doc.load_catalog()
    used = {column for table in catalog.tables.values() for column in table.columns}
    assert sorted(set(catalog.shared_columns) - used) == []


def test_committed_page_is_what_the_generator_writes(warehouse):
    committed = (PROJECT_DIR / "docs" / "tables.md").read_text(encoding="utf-8")
    expected = tables_doc.tables_page(warehouse)
    assert committed == expected, (
        "docs/tables.md is stale: run `python -m calaim_pipeline.tables_doc` and commit the result"
    )


def test_page_shows_the_real_duckdb_types(warehouse):
    page = tables_doc.tables_page(warehouse)
    assert "| `paid_amount` | `DECIMAL(18,2)` |" in page
    assert "| `service_from_date` | `DATE` |" in page
    assert "| `rule_ids` | `VARCHAR[]` |" in page
    assert "| `duplicate_hash` | `UBIGINT` |" in page


EXAMPLES = tables_doc.all_examples(tables_doc.load_catalog())


@pytest.mark.parametrize(
    "where, example", EXAMPLES, ids=[f"{w}:{e.title[:40]}" for w, e in EXAMPLES]
)
def test_example_query_runs(warehouse, where, example):
    rows = warehouse.execute(example.sql).fetchall()
    if example.returns_rows:
        assert rows, f"{where}: '{example.title}' returned no rows on the sample"


def test_every_table_has_an_example():
    catalog = tables_doc.load_catalog()
    sql = "\n".join(e.sql for _, e in tables_doc.all_examples(catalog))
    assert [t for t in WAREHOUSE_VIEWS if t not in sql] == []


def test_catalog_errors_name_the_table_and_key():
    with pytest.raises(tables_doc.TablesCatalogError, match=r"tables\.members\.columns\.nickname"):
        tables_doc.parse_catalog(
            {
                "intro": "x",
                "tables": {
                    "members": {"grain": "g", "description": "d", "columns": {"nickname": None}}
                },
            }
        )
    with pytest.raises(tables_doc.TablesCatalogError, match=r"tables\.members\.grain"):
        tables_doc.parse_catalog({"intro": "x", "tables": {"members": {"description": "d"}}})


USER_DOCS = ("docs/warehouse.md", "docs/compliance.md", "docs/data-engineers.md", "README.md")


FENCE = re.compile(r"^[ \t]*```([\w-]*)[^\n]*\n(.*?)^[ \t]*```", re.M | re.S)
SHELL = ("", "bash", "sh", "shell", "console")


def _shell_blocks(text: str) -> list[str]:
    return [body for language, body in FENCE.findall(text) if language in SHELL]


def _calaim_sql(block: str) -> list[str]:
    """The queries of `calaim sql "..."` commands in a shell block."""
    found = []
    for line in block.splitlines():
        try:
            words = shlex.split(line, comments=True)
        except ValueError:  # not a command (e.g. an output line with a quote)
            continue
        for i, word in enumerate(words[:-2]):
            if (word == "calaim" or word.endswith("/calaim")) and words[i + 1] == "sql":
                found.append(words[i + 2].strip())
    return found


def doc_queries(name: str) -> list[str]:
    """SQL statements of a doc: ```sql blocks (split at `;`), con.sql("...") in ```python blocks
    and `calaim sql "..."` in shell blocks."""
    text = (PROJECT_DIR / name).read_text(encoding="utf-8")
    found = []
    for block in re.findall(r"```sql\n(.*?)```", text, flags=re.S):
        found += [s.strip() for s in re.split(r";\s*(?:\n|$)", block) if s.strip()]
    for block in re.findall(r"```python\n(.*?)```", text, flags=re.S):
        for triple, single in re.findall(r'con\.sql\((?:"""(.*?)"""|"(.*?)")\)', block, flags=re.S):
            found.append((triple or single).strip())
    for block in _shell_blocks(text):
        found += _calaim_sql(block)
    for span in re.findall(r"`([^`]+)`", FENCE.sub("", text)):  # inline `calaim sql "..."`
        found += _calaim_sql(span)
    return found


def _normal(sql: str) -> str:
    lines = [line for line in sql.splitlines() if not line.strip().startswith("--")]
    return " ".join(" ".join(lines).split()).rstrip(";").strip()


@pytest.mark.parametrize("name", USER_DOCS)
def test_queries_in_the_user_docs_return_rows_on_the_sample(warehouse, name):
    """The sample is the bundled sample's CHG, byte for byte (tables_doc.SAMPLE_*): what a new
    user queries after `make run`. Not only that the SQL runs: every query must return rows."""
    empty = [sql for sql in doc_queries(name) if not warehouse.execute(sql).fetchall()]
    assert empty == [], f"{name}: no rows on the sample from: {empty}"


def test_the_guides_show_queries():
    assert len(doc_queries("docs/compliance.md")) >= 4  # rejects, one rule, files, corrections
    assert doc_queries("docs/warehouse.md")


RESULT_MARKER = "<!-- result of the command above"


def documented_results(name: str) -> list[tuple[str, list[str], list[list[str]]]]:
    """(query, header, rows) for each markdown table the doc gives as a query's result: the
    table after a `<!-- result of the command above ... -->` marker, for the last query before it."""
    text = (PROJECT_DIR / name).read_text(encoding="utf-8")
    found = []
    for match in re.finditer(re.escape(RESULT_MARKER), text):
        queries = doc_queries_in(text[: match.start()])
        table = []
        for line in text[match.end() :].split("\n")[1:]:
            if not line.startswith("|"):
                break
            table.append([cell.strip() for cell in line.strip().strip("|").split("|")])
        found.append((queries[-1], table[0], table[2:]))
    return found


def doc_queries_in(text: str) -> list[str]:
    found = []
    for block in _shell_blocks(text):
        found += _calaim_sql(block)
    return found


def _cell(value) -> str:
    return "" if value is None else str(value)


def test_documented_query_results_are_what_the_sample_returns(warehouse):
    results = documented_results("docs/compliance.md")
    assert results, "docs/compliance.md lost its worked correction example"
    for query, header, rows in results:
        relation = warehouse.sql(query)
        assert relation.columns == header
        actual = [[_cell(v) for v in row] for row in relation.fetchall()]
        assert actual == rows, f"the doc's table differs from what\n{query}\nreturns"


def test_warehouse_page_examples_are_catalog_examples():
    catalog = {_normal(e.sql) for _, e in tables_doc.all_examples(tables_doc.load_catalog())}
    queries = [q for q in doc_queries("docs/warehouse.md") if "LIMIT 5" not in q]
    assert queries, "docs/warehouse.md lost its example queries"
    assert [q for q in queries if _normal(q) not in catalog] == []


def test_the_guides_quote_what_the_sample_shows(sample):
    """The numbers the compliance guide and the README quote for the sample's failing and warning
    months are the sample's own (the sample is `make run`'s CHG): a generator change that moves
    them fails here, not in front of a new user. The summary line quoted is what `calaim run`
    prints for the month."""
    import io

    from calaim_pipeline.console.outcomes import judged_outcome
    from calaim_pipeline.console.summary import print_summary
    from calaim_pipeline.lake import read_metrics
    from calaim_pipeline.plan_month_checks import top_rules

    paths, _ = sample
    guide = (PROJECT_DIR / "docs" / "compliance.md").read_text(encoding="utf-8")
    flat = " ".join(guide.split())
    readme = " ".join((PROJECT_DIR / "README.md").read_text(encoding="utf-8").split())

    failing = judged_outcome("CHG", "2026-09", read_metrics(paths.lake, "CHG", "2026-09"), "")
    (reject_rate,) = failing.blocking
    assert reject_rate.name == "reject_rate"
    assert reject_rate.summary in flat  # e.g. "296 of 2000 lines rejected (14.80%; limit 10.00%)"
    percent = re.search(r"\((\d+\.\d+%);", reject_rate.summary).group(1)
    assert f"{percent} of lines rejected" in readme
    top = top_rules(failing.metrics, limit=1)[0]
    example = top["examples"][0]
    assert f"`{top['rule_id']}` ({top['rows']} lines)" in flat
    assert f"{example['claim_id']} @ {example['file']}:{example['line']}" in flat
    assert f"here: {top['rows']} lines with non-billable" in flat
    printed = io.StringIO()
    print_summary([failing], out=printed)
    row = next(line for line in printed.getvalue().splitlines() if line.startswith("CHG "))
    assert [line for line in guide.splitlines() if line.startswith("CHG      2026-09")] == [row]

    warning = judged_outcome("CHG", "2026-08", read_metrics(paths.lake, "CHG", "2026-08"), "")
    assert warning.status == "warned" and "duplicates" in [c.name for c in warning.warnings]
    for check in warning.warnings:
        assert f"`{check.name}`" in flat  # every warning of the month is named in the guide
    duplicates = next(c for c in warning.warnings if c.name == "duplicates")
    share = re.search(r"\((\d+\.\d+%; limit [\d.]+%)\)", duplicates.summary).group(1)
    assert share in flat


PYTHON_FENCE = re.compile(r"^```python\n(.*?)^```", re.M | re.S)


def pandas_examples() -> list[str]:
    """The report authors' pandas examples: the Python blocks of warehouse.md using `reports`."""
    text = (PROJECT_DIR / "docs" / "warehouse.md").read_text(encoding="utf-8")
    return [block for block in PYTHON_FENCE.findall(text) if "reports" in block]


def test_warehouse_doc_has_pandas_examples():
    assert len(pandas_examples()) >= 3


@pytest.mark.parametrize("number", range(len(pandas_examples())))
def test_pandas_example_runs_on_the_sample(sample, number, monkeypatch, capsys):
    import pandas as pd

    paths, _ = sample
    monkeypatch.setenv("CALAIM_DATA_DIR", str(paths.root))
    scope: dict = {}
    exec(
        compile(pandas_examples()[number], f"warehouse.md pandas example {number + 1}", "exec"),
        scope,
    )
    frames = [v for v in scope.values() if isinstance(v, pd.DataFrame | pd.Series)]
    assert frames, "the example builds no DataFrame"
    assert all(len(frame) > 0 for frame in frames), "an example returned no rows on the sample"
    capsys.readouterr()  # what the examples print stays out of the test log


def test_read_table_filters_and_refuses_bad_names(sample):
    from calaim_pipeline import reports

    paths, warehouse = sample
    ((plan, month),) = warehouse.execute(
        "SELECT plan_code, extract_month FROM rule_results LIMIT 1"
    ).fetchall()
    frame = reports.read_table("rule_results", plan=plan, month=[month], path=paths.warehouse)
    assert len(frame) > 0
    assert set(frame["plan_code"]) == {plan} and set(frame["extract_month"]) == {month}
    assert len(reports.read_table("rule_results", plan="NOPLAN", path=paths.warehouse)) == 0
    with pytest.raises(reports.ReportError, match="unknown table"):
        reports.read_table("members; DROP VIEW members", path=paths.warehouse)
    with pytest.raises(reports.ReportError, match="not well formed"):
        reports.read_table("rule_results", month="2026-9", path=paths.warehouse)
    with pytest.raises(reports.ReportError, match="no column"):
        reports.read_table("rule_results", columns=["nope"], path=paths.warehouse)
    with reports.connect(paths.warehouse) as con, pytest.raises(Exception, match="read-only"):
        con.execute("CREATE TABLE x (a INT)")
