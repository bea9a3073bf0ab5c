"""`calaim warehouse` and `calaim sql`: the report authors' DuckDB views over the lake where it
lives, and one read-only query on them.

On local disk every run keeps the views current itself. With the data root on object storage
(CALAIM_LAKE_URI) the runs happen on workers whose folders are thrown away, so the warehouse file
report authors open lives on their own machine and this command points its views at the bucket.
"""

from __future__ import annotations

import argparse

from calaim_pipeline.cli_errors import UsageError
from calaim_pipeline.cli_responses import _via_cli


def cmd_warehouse(args: argparse.Namespace) -> int:
    from calaim_pipeline import warehouse
    from calaim_pipeline.settings import data_paths
    from calaim_pipeline.storage.object_store import object_store

    paths = data_paths()
    recreated = warehouse.ensure_views(paths)
    store = object_store()
    where = store.uri if store else str(paths.lake)
    made = ", ".join(recreated) if recreated else "none (all current)"
    print(f"warehouse {paths.warehouse}: views over {where}; (re)created: {made}")
    return 0


def cmd_sql(args: argparse.Namespace) -> int:
    """One query on the warehouse, read-only, printed as a table: the guides' example queries
    run with one copied command, no Python needed (the warehouse holds PHI in some columns:
    tables.md marks them; the guides' queries select none)."""
    import duckdb

    from calaim_pipeline.settings import data_paths
    from calaim_pipeline.warehouse import attach_object_store

    warehouse = data_paths().warehouse
    if not warehouse.is_file():
        raise UsageError(f"no warehouse at {warehouse}: run `calaim run` first")
    con = duckdb.connect(str(warehouse), read_only=True)
    attach_object_store(con)  # views over an object-storage lake read s3:// (docs/deploy.md)
    try:
        relation = con.sql(args.query)
        if relation is None:
            raise UsageError("the query returned nothing to show: use a SELECT")
        relation.show(max_width=args.width, max_rows=args.max_rows)
    except duckdb.Error as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UsageError(first) from None
    finally:
        con.close()
    return 0


def add_warehouse_parsers(sub: argparse._SubParsersAction) -> None:
    cmd = sub.add_parser(
        "warehouse", help="(re)create the warehouse views over the lake (local disk or a bucket)"
    )
    cmd.set_defaults(func=_via_cli("cmd_warehouse"))

    query = sub.add_parser("sql", help="run one read-only query on the warehouse, print a table")
    query.add_argument("query", help='e.g. "SELECT * FROM rule_results LIMIT 5"')
    query.add_argument("--width", type=int, default=160, help="table width in characters")
    query.add_argument("--max-rows", type=int, default=200)
    query.set_defaults(func=_via_cli("cmd_sql"))
