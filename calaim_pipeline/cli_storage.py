"""`calaim warehouse`: (re)create the report authors' DuckDB views over the lake where it lives.

On local disk every run keeps the views current itself. With the data root on object storage
(CALAIM_LAKE_URI) the runs happen on workers whose folders are thrown away, so the warehouse file
report authors open lives on their own machine and this command points its views at the bucket.
"""

from __future__ import annotations

import argparse


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


def add_storage_parsers(sub: argparse._SubParsersAction) -> None:
    cmd = sub.add_parser(
        "warehouse", help="(re)create the warehouse views over the lake (local or object storage)"
    )
    cmd.set_defaults(func=cmd_warehouse)
