"""Helpers for the distributed-engine test (test_ops_distributed.py): a throw-away Redis server
from the Debian package, Celery workers of calaim_pipeline.celery_app, the environment each worker
gets, and what a backfill leaves behind in a form two backfills can be compared by.

Kept apart from ops_support.py (the servers every ops test shares) so each stays readable; the
process helpers (start_process, stop_process, wait_for) are ops_support's.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import socket
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pyarrow.parquet as pq

from calaim_pipeline.engine_settings import (
    BACKEND_ENV,
    BROKER_ENV,
    EXECUTOR_ENV,
    VISIBILITY_ENV,
)
from calaim_pipeline_tests.ops_support import (
    INSTALL_HINT,
    LOOPBACK,
    Proc,
    free_port,
    start_process,
    stop_process,
    venv_command,
    wait_for,
)

# --- Redis -------------------------------------------------------------------------------------


@dataclass
class Redis:
    port: int

    def url(self, db: int) -> str:
        return f"redis://{LOOPBACK}:{self.port}/{db}"

    def ping(self) -> bool:
        with socket.create_connection((LOOPBACK, self.port), timeout=2) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")


@contextlib.contextmanager
def redis_server(log_dir: Path, timeout: float = 30.0) -> Iterator[Redis]:
    """redis-server on 127.0.0.1:<free port>, no persistence, its own temp folder; always stopped."""
    binary = shutil.which("redis-server")
    if not binary:
        raise AssertionError(
            "redis-server not found: " + INSTALL_HINT.format(package="redis-server")
        )
    root = Path(tempfile.mkdtemp(prefix="calaim-redis-"))
    server = Redis(port=free_port())
    args = [
        binary,
        "--bind",
        LOOPBACK,
        "--port",
        str(server.port),
        "--dir",
        str(root),
        "--save",
        "",
        "--appendonly",
        "no",
        "--protected-mode",
        "yes",
        "--daemonize",
        "no",
    ]
    proc = start_process("redis", args, {"PATH": "/usr/bin:/bin"}, log_dir, cwd=root)
    try:
        wait_for("redis to answer PING", server.ping, timeout, 0.2, [proc])
        yield server
    finally:
        stop_process(proc)
        shutil.rmtree(root, ignore_errors=True)


# --- the engine's environment ----------------------------------------------------------------


def engine_env(redis: Redis, visibility_timeout: int) -> dict[str, str]:
    """What the daemon, its run workers and every Celery worker need to agree on the engine."""
    return {
        EXECUTOR_ENV: "celery",
        BROKER_ENV: redis.url(0),
        BACKEND_ENV: redis.url(1),
        VISIBILITY_ENV: str(visibility_timeout),
    }


def start_celery_worker(name: str, env: Mapping[str, str], cwd: Path, log_dir: Path) -> Proc:
    """One Celery worker node named `name`@calaim running one step at a time (prefork, 1 child),
    in its own process group so a SIGKILL of the group is the loss of a whole machine."""
    args = [
        venv_command("celery"),
        "-A",
        "calaim_pipeline.celery_app",
        "worker",
        "-n",
        f"{name}@calaim",
        "-c",
        "1",
        "-P",
        "prefork",
        "-Q",
        "dagster",
        "--loglevel",
        "INFO",
        "--without-gossip",
        "--without-mingle",
    ]
    proc = start_process(name, args, env, log_dir, cwd=cwd)
    wait_for(f"celery worker {name} ready", lambda: " ready." in proc.tail(20000), 120, 0.5, [proc])
    return proc


# --- what a backfill leaves behind -----------------------------------------------------------

# Control numbers and creation times differ between any two builds of the same month, wherever
# they run: in the 837 (ISA09/10 date and time, ISA13, GS04/05 date and time, GS06, ST02, SE02,
# GE02, IEA02, BHT03 reference and BHT04/05 date and time), and the columns and manifest keys that
# repeat them (file names carry the interchange control number).
X12_VOLATILE = {
    "ISA": {9, 10, 13},
    "GS": {4, 5, 6},
    "ST": {2},
    "SE": {2},
    "GE": {2},
    "IEA": {2},
    "BHT": {3, 4, 5},
}
COLUMN_VOLATILE = {
    "file_name",
    "interchange_control_number",
    "group_control_number",
    "sha256",
    "bytes",
    "created_at",
}
MANIFEST_VOLATILE = {"created_at", "build_seconds", *COLUMN_VOLATILE}
METRICS_VOLATILE = {"timings", "landing_fingerprint"}


def x12_without_control_numbers(text: str) -> str:
    """The interchange with its control numbers and creation dates masked, every other element
    kept (so a changed claim, line or envelope id is still a difference)."""
    element = text[3]  # ISA's element separator is its fourth character
    terminator = text[105]  # ISA is fixed length: the segment terminator follows ISA16
    masked = []
    for segment in text.split(terminator):
        parts = segment.strip().split(element)
        for index in X12_VOLATILE.get(parts[0], ()):
            if index < len(parts):
                parts[index] = "#"
        masked.append(element.join(parts))
    return terminator.join(masked)


def _rows(rows: list[dict]) -> list[str]:
    return sorted(
        json.dumps(
            {k: v for k, v in r.items() if k not in COLUMN_VOLATILE}, default=str, sort_keys=True
        )
        for r in rows
    )


def outcome(root: Path) -> dict:
    """Everything a backfill leaves under a data root, keyed by where it is, minus what differs
    between any two builds (control numbers, file names, times)."""
    out: dict = {"warehouse": {}, "lake": {}, "x12": {}, "manifests": {}, "metrics": {}}
    with duckdb.connect(str(root / "warehouse" / "calaim.duckdb"), read_only=True) as con:
        views = con.execute("SELECT view_name FROM duckdb_views() WHERE NOT internal").fetchall()
        for (view,) in sorted(views):
            columns = [
                c
                for (c,) in con.execute(f"SELECT name FROM pragma_table_info('{view}')").fetchall()
            ]
            keep = ", ".join(f'"{c}"' for c in columns if c not in COLUMN_VOLATILE)
            out["warehouse"][view] = {
                "count": con.execute(f"SELECT count(*) FROM {view}").fetchone()[0],
                "rows": con.execute(f"SELECT {keep} FROM {view} ORDER BY ALL").fetchall(),
            }
    lake = root / "lake"
    for path in sorted(lake.rglob("*")):
        # Lock files are one host's fcntl markers, not data: a bucket holds none.
        if not path.is_file() or path.suffix == ".lock":
            continue
        key = path.relative_to(lake).as_posix()
        if path.suffix == ".parquet":
            out["lake"][key] = _rows(pq.read_table(path).to_pylist())
        elif path.name == "metrics.json":
            metrics = json.loads(path.read_text())
            out["metrics"][key] = {k: v for k, v in metrics.items() if k not in METRICS_VOLATILE}
        else:
            out["lake"][key] = path.stat().st_size
    for manifest_path in sorted((root / "submissions").rglob("manifest.json")):
        folder = manifest_path.parent
        key = folder.relative_to(root / "submissions").as_posix()
        manifest = json.loads(manifest_path.read_text())
        for entry in manifest["files"]:
            text = (folder / entry["file_name"]).read_text(encoding="ascii")
            out["x12"][f"{key}/{entry['transaction']}"] = x12_without_control_numbers(text)
        manifest["files"] = [
            {k: v for k, v in f.items() if k not in MANIFEST_VOLATILE} for f in manifest["files"]
        ]
        out["manifests"][key] = {k: v for k, v in manifest.items() if k not in MANIFEST_VOLATILE}
    # Files on disk: as many 837s per plan-month as the manifest names, no strays or duplicates.
    out["x12_files"] = sorted(
        p.parent.relative_to(root).as_posix()
        for p in (root / "submissions").rglob("*")
        if p.is_file()
        and p.name != "manifest.json"
        and not p.name.startswith(".")
        and p.suffix != ".lock"
    )
    return out


def differences(expected: dict, actual: dict, limit: int = 20) -> list[str]:
    """Where two outcomes differ, by key (no values: they may hold member data)."""
    found = []
    for section in sorted(set(expected) | set(actual)):
        left, right = expected.get(section), actual.get(section)
        if isinstance(left, dict) and isinstance(right, dict):
            for key in sorted(set(left) | set(right)):
                if left.get(key) != right.get(key):
                    found.append(f"{section}/{key}")
        elif left != right:
            found.append(section)
    return found[:limit]
