"""The statewide benchmark against a data root on object storage (issue 16): a real
S3-compatible server (`rclone serve s3`) and a real PostgreSQL for the plan locks, both on
loopback, started and stopped here; the landing files are uploaded first (not timed) and the run
starts from an empty worker folder, so every byte it reads or writes crosses the S3 API."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

from calaim_pipeline_tests.object_store_support import s3_server, upload_tree
from calaim_pipeline_tests.ops_support import postgres_server


@contextlib.contextmanager
def object_store_env(generated: Path, logs: Path) -> Iterator[dict[str, str]]:
    """Servers up, ``generated/landing`` in the bucket; yields the worker's extra environment."""
    import os

    with s3_server(logs) as s3, postgres_server(logs) as pg:
        env = {**s3.env("statewide"), "CALAIM_LOCK_DSN": pg.dsn}
        saved = {k: os.environ.get(k) for k in env}
        os.environ.update(env)  # the upload below uses this process's client
        try:
            count = upload_tree(s3.store("statewide"), generated, "landing")
            print(f"object store: {count} landing files uploaded to {env['CALAIM_LAKE_URI']}")
            yield env
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value
