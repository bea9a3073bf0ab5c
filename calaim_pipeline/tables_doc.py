"""The warehouse table reference (docs/tables.md), generated from the real schema.

Descriptions and example queries live in `calaim_pipeline/catalog/tables.yaml`; column names and
DuckDB types come from `DESCRIBE <view>` on a real warehouse, so the page cannot drift from the
schema. Regenerate with:

    python -m calaim_pipeline.tables_doc

which runs a small generated sample through the real plan-month job in a temporary data root and
writes docs/tables.md from that warehouse. Rendering needs only a DuckDB connection; Dagster is
imported only by the sample build.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import textwrap
from functools import cache
from pathlib import Path
from typing import Annotated, Any

import duckdb
import yaml
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from calaim_pipeline.catalog import format_problems, validation_problems
from calaim_pipeline.lake import WAREHOUSE_VIEWS
from calaim_pipeline.settings import PROJECT_DIR, DataPaths

CATALOG = Path(__file__).resolve().parent / "catalog" / "tables.yaml"
DOC = PROJECT_DIR / "docs" / "tables.md"

# The sample the committed page is generated from (and the docs tests run every guide's example
# query on): the bundled sample's smallest plan, CHG, with its seed, months and incidents, so its
# files are byte for byte those `make run` shows (a plan's files do not depend on the other plans).
# It has the ledger (replacements and voids of earlier months), a month that warns (2026-08) and
# one whose blocking check fails (2026-09, files held back).
SAMPLE_PLAN_LINES = {"CHG": 2000}
SAMPLE_MONTHS = ("2026-06", "2026-07", "2026-08", "2026-09")
SAMPLE_SEED = 42


class TablesCatalogError(ValueError):
    """tables.yaml is malformed: the message names the file, then the table and key."""


def _prose(value: Any) -> Any:
    return " ".join(value.split()) if isinstance(value, str) else value


def _stripped(value: Any) -> Any:
    return value.strip() if isinstance(value, str) else value


def _empty_is_none(value: Any) -> Any:
    return () if value is None else value


Prose = Annotated[str, Field(min_length=1), BeforeValidator(_prose)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Example(_Strict):
    title: Prose
    sql: Annotated[str, Field(min_length=1), BeforeValidator(_stripped)]
    returns_rows: bool = True  # the query must return rows on the sample


Examples = Annotated[tuple[Example, ...], BeforeValidator(_empty_is_none)]


class Table(_Strict):
    name: str = ""  # its key under `tables`, filled in by parse_catalog
    grain: Prose
    description: Prose
    # name -> description; after parse_catalog every value is text (shared ones resolved)
    columns: Annotated[dict[str, Prose | None], BeforeValidator(lambda v: v or {})] = {}
    examples: Examples = ()


class TablesCatalog(_Strict):
    intro: Prose
    shared_columns: Annotated[dict[str, Prose], BeforeValidator(lambda v: v or {})] = {}
    tables: Annotated[dict[str, Table], BeforeValidator(lambda v: v or {})] = {}
    examples: Examples = ()  # queries across tables


def parse_catalog(raw: Any, path: Path = CATALOG) -> TablesCatalog:
    """Validate tables.yaml's content; a column left empty takes its shared_columns text."""
    try:
        catalog = TablesCatalog.model_validate(raw)
    except ValidationError as exc:
        problems = validation_problems(exc, raw)
        raise TablesCatalogError(format_problems(path, "tables catalog", problems)) from None
    tables, problems = {}, []
    for name, table in catalog.tables.items():
        columns = {}
        for column, text in table.columns.items():
            columns[column] = text if text is not None else catalog.shared_columns.get(column)
            if columns[column] is None:
                problems.append(
                    (
                        f"tables.{name}.columns.{column}",
                        "no description and no shared_columns entry",
                    )
                )
        tables[name] = table.model_copy(update={"name": name, "columns": columns})
    if problems:
        raise TablesCatalogError(format_problems(path, "tables catalog", problems))
    return catalog.model_copy(update={"tables": tables})


@cache
def load_catalog(path: Path = CATALOG) -> TablesCatalog:
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise TablesCatalogError(f"{path}: cannot be read as YAML: {exc}") from None
    return parse_catalog(raw, path)


def described_columns(con: duckdb.DuckDBPyConnection, table: str) -> list[tuple[str, str]]:
    """(column, DuckDB type) of a warehouse view, in the view's order."""
    return [(row[0], row[1]) for row in con.execute(f"DESCRIBE {table}").fetchall()]


def all_examples(catalog: TablesCatalog) -> list[tuple[str, Example]]:
    """Every example query with where it is listed (a table name or 'examples')."""
    found = [(name, ex) for name, table in catalog.tables.items() for ex in table.examples]
    return found + [("examples", ex) for ex in catalog.examples]


def _wrap(text: str) -> str:
    return textwrap.fill(text, width=100, break_long_words=False, break_on_hyphens=False)


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def _sql_block(examples: tuple[Example, ...]) -> list[str]:
    if not examples:
        return []
    lines = ["```sql"]
    for i, ex in enumerate(examples):
        if i:
            lines.append("")
        lines += [f"-- {ex.title}", ex.sql]
    return [*lines, "```", ""]


def tables_page(con: duckdb.DuckDBPyConnection, catalog: TablesCatalog | None = None) -> str:
    """docs/tables.md from the catalog and the views of the warehouse open on `con`."""
    catalog = catalog or load_catalog()
    missing = [t for t in WAREHOUSE_VIEWS if t not in catalog.tables]
    if missing:
        raise TablesCatalogError(f"{CATALOG.name}: no entry for table(s) {', '.join(missing)}")
    lines = [
        "# Warehouse table reference",
        "",
        "Generated by `python -m calaim_pipeline.tables_doc` from `calaim_pipeline/catalog/tables.yaml`",
        "(descriptions, example queries) and `DESCRIBE` of each view in a warehouse built from sample",
        "data (names and DuckDB types); do not edit by hand. The overview is",
        "[warehouse.md](warehouse.md); rule ids are explained in [rules.md](rules.md) and scorecard",
        "metrics in [metrics.md](metrics.md).",
        "",
        _wrap(catalog.intro),
        "",
        "| table | grain |",
        "|---|---|",
    ]
    lines += [f"| [`{t}`](#{t}) | {_cell(catalog.tables[t].grain)} |" for t in WAREHOUSE_VIEWS]
    lines.append("")
    for name in WAREHOUSE_VIEWS:
        table = catalog.tables[name]
        lines += [
            f"## {name}",
            "",
            f"**Grain:** {table.grain}",
            "",
            _wrap(table.description),
            "",
            "| column | type | description |",
            "|---|---|---|",
        ]
        for column, kind in described_columns(con, name):
            text = table.columns.get(column)
            if text is None:
                raise TablesCatalogError(
                    f"{CATALOG.name}: tables.{name}.columns has no entry for {column}"
                )
            lines.append(f"| `{column}` | `{kind}` | {_cell(text)} |")
        lines.append("")
        lines += _sql_block(table.examples)
    if catalog.examples:
        lines += ["## Queries across tables", ""]
        lines += _sql_block(catalog.examples)
    return "\n".join(lines).rstrip("\n") + "\n"


def write_tables_page(warehouse: Path, out: Path = DOC) -> Path:
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        text = tables_page(con)
    finally:
        con.close()
    out.write_text(text, encoding="utf-8")
    return out


def build_sample_warehouse(root: Path, instance=None) -> DataPaths:
    """Generate the sample under `root` (a data root) and run each plan-month through the real
    plan_month_job, oldest month first; every month but the last two is then marked sent (simulated
    review), answered by the DHCS simulator and its answers ingested, so the response tables have
    rows and a built month is left to review. Sets CALAIM_DATA_DIR to `root` for the run."""
    import dagster as dg

    from calaim_pipeline import warehouse
    from calaim_pipeline.console.outcomes import FAILED, PASSED, WARNED, outcome_of
    from calaim_pipeline.definitions import defs
    from calaim_pipeline.defs.partitions import plan_month_key
    from calaim_pipeline.responses import cycle, ingest
    from calaim_pipeline.sample import generate_sample
    from calaim_pipeline.sample.incidents import DEMO_INCIDENTS
    from calaim_pipeline.settings import load_plans

    root.mkdir(parents=True, exist_ok=True)
    os.environ["CALAIM_DATA_DIR"] = str(root)
    generate_sample(
        root,
        plan_lines=SAMPLE_PLAN_LINES,
        months=SAMPLE_MONTHS,
        seed=SAMPLE_SEED,
        incidents=DEMO_INCIDENTS,
    )
    job = defs().resolve_job_def("plan_month_job")
    quiet = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}  # failure told above
    owned = instance is None
    instance = instance or dg.DagsterInstance.ephemeral()
    try:
        for month in SAMPLE_MONTHS:
            for plan in SAMPLE_PLAN_LINES:
                result = job.execute_in_process(
                    partition_key=plan_month_key(plan, month),
                    instance=instance,
                    raise_on_error=False,
                    run_config=quiet,
                )
                # A failed blocking check is the sample's design (CHG 2026-09); anything else is not.
                outcome = outcome_of(result, DataPaths(root), plan, month, 0.0)
                if outcome.status == FAILED:
                    raise RuntimeError(f"sample run {plan} {month} failed: {outcome.reason}")
                if month < SAMPLE_MONTHS[-2] and outcome.status in (PASSED, WARNED):
                    cycle.send_and_answer(DataPaths(root), plan, month)
                    ingest.ingest_plan(DataPaths(root), load_plans(), plan)
        warehouse.ensure_views(DataPaths(root))
    finally:
        if owned:
            instance.dispose()
    return DataPaths(root)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m calaim_pipeline.tables_doc", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--out", default=str(DOC), help="where to write (default docs/tables.md)")
    parser.add_argument(
        "--warehouse",
        help="describe this existing warehouse file instead of building the sample "
        "(the committed page must come from the sample)",
    )
    args = parser.parse_args(argv)
    if args.warehouse:
        path = write_tables_page(Path(args.warehouse), Path(args.out))
    else:
        saved = os.environ.get("CALAIM_DATA_DIR")
        with tempfile.TemporaryDirectory(prefix="calaim-tables-") as tmp:
            try:
                paths = build_sample_warehouse(Path(tmp) / "data")
                path = write_tables_page(paths.warehouse, Path(args.out))
            finally:
                if saved is None:
                    os.environ.pop("CALAIM_DATA_DIR", None)
                else:
                    os.environ["CALAIM_DATA_DIR"] = saved
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
