"""Helpers for the operations tests: free loopback ports, a throw-away PostgreSQL server from the
Debian package, and Dagster processes (webserver, daemon, `dagster dev`) that are always stopped.

Every server binds 127.0.0.1 (or a unix socket in a temp folder) on a port chosen free, and every
wait is bounded. Missing system binaries fail with the command that installs them; `make test`
runs scripts/system-deps.sh first, so on CI they are present.
"""

from __future__ import annotations

import contextlib
import json
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from calaim_pipeline_tests.conftest import OUTPUT_DIR, PROJECT_DIR

VENV_BIN = Path(sys.executable).parent
LOOPBACK = "127.0.0.1"
# What the daemon logs for a landing_sensor tick that asked for no run (either wording of 1.13).
SENSOR_IDLE = ("Sensor landing_sensor skipped", "No run requests returned for landing_sensor")
INSTALL_HINT = "run scripts/system-deps.sh (make test does) or: apt-get install -y {package}"


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        return sock.getsockname()[1]


def venv_command(name: str) -> str:
    """A console script of the project's virtualenv (dagster, dagster-daemon, calaim...)."""
    path = VENV_BIN / name
    if not path.exists():
        raise AssertionError(f"{path} missing: run `make setup`")
    return str(path)


def output_dir(*parts: str) -> Path:
    """A folder under test-output/ that survives the test (screenshots, server logs)."""
    folder = OUTPUT_DIR.joinpath(*parts)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def chromium_path() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if not path:
        raise AssertionError("chromium not found: " + INSTALL_HINT.format(package="chromium"))
    return path


# --- processes -------------------------------------------------------------------------------


@dataclass
class Proc:
    """A child process in its own process group, with its output in a log file."""

    name: str
    popen: subprocess.Popen
    log: Path

    def tail(self, chars: int = 4000) -> str:
        try:
            return self.log.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def assert_alive(self) -> None:
        if self.popen.poll() is not None:
            raise AssertionError(
                f"{self.name} exited with {self.popen.returncode}; log {self.log}:\n{self.tail()}"
            )


def start_process(
    name: str, args: Sequence[str], env: Mapping[str, str], log_dir: Path, cwd: Path = PROJECT_DIR
) -> Proc:
    log_dir.mkdir(parents=True, exist_ok=True)
    log = log_dir / f"{name}.log"
    handle = log.open("wb")
    popen = subprocess.Popen(
        list(args),
        cwd=cwd,
        env=dict(env),
        stdin=subprocess.DEVNULL,
        stdout=handle,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its own process group: stopping it stops its run workers too
    )
    handle.close()
    return Proc(name, popen, log)


def stop_process(proc: Proc, timeout: float = 10.0) -> None:
    """SIGTERM the process group (Dagster shuts down its children), SIGKILL what is left."""
    if proc.popen.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.popen.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.popen.wait(timeout=timeout)
    # Children (run workers, code servers) may outlive the leader: kill the whole group.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.popen.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.popen.wait(timeout=10)


@contextlib.contextmanager
def running(procs: list[Proc]) -> Iterator[list[Proc]]:
    """Stop every process appended to `procs`, last started first, whatever happens."""
    try:
        yield procs
    finally:
        for proc in reversed(procs):
            stop_process(proc)


def run_checked(
    args: Sequence[str], env: Mapping[str, str], timeout: float, cwd: Path = PROJECT_DIR
) -> subprocess.CompletedProcess:
    result = subprocess.run(
        list(args),
        cwd=cwd,
        env=dict(env),
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )
    if result.returncode != 0:
        raise AssertionError(
            f"{' '.join(args)} exited {result.returncode}\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
        )
    return result


def wait_for(what: str, predicate, timeout: float, interval: float = 0.5, procs=()):
    """Poll `predicate` until it returns a truthy value; fail naming `what` after `timeout`."""
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        for proc in procs:
            proc.assert_alive()
        try:
            value = predicate()
            if value:
                return value
        except Exception as exc:  # the server may not answer yet
            last_error = exc
        time.sleep(interval)
    logs = "\n".join(f"--- {p.name} ({p.log}):\n{p.tail(2000)}" for p in procs)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}: {last_error}\n{logs}")


# --- Dagster webserver -------------------------------------------------------------------------


def http_get(url: str, timeout: float = 10.0) -> bytes:
    with urllib.request.urlopen(url, timeout=timeout) as response:  # loopback only
        return response.read()


def graphql(base_url: str, query: str, variables: Mapping | None = None, timeout: float = 60.0):
    body = json.dumps({"query": query, "variables": dict(variables or {})}).encode()
    request = urllib.request.Request(
        f"{base_url}/graphql", data=body, headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=timeout) as response:
        payload = json.loads(response.read())
    if payload.get("errors"):
        raise AssertionError(f"GraphQL errors: {payload['errors']}")
    return payload["data"]


def wait_for_webserver(base_url: str, procs: Sequence[Proc], timeout: float = 120.0) -> None:
    """Wait until the webserver answers and has loaded the code location."""

    def loaded() -> bool:
        http_get(f"{base_url}/server_info")
        data = graphql(
            base_url,
            "{ workspaceOrError { ... on Workspace { locationEntries { name "
            "loadStatus locationOrLoadError { __typename } } } } }",
        )
        entries = data["workspaceOrError"]["locationEntries"]
        return bool(entries) and all(
            e["loadStatus"] == "LOADED"
            and e["locationOrLoadError"]["__typename"] == "RepositoryLocation"
            for e in entries
        )

    wait_for(f"webserver {base_url}", loaded, timeout, interval=1.0, procs=procs)


# --- PostgreSQL --------------------------------------------------------------------------------


def postgres_bin(name: str) -> Path:
    found = sorted(
        Path("/usr/lib/postgresql").glob(f"*/bin/{name}"), key=lambda p: int(p.parts[-3])
    )
    if found:
        return found[-1]
    on_path = shutil.which(name)
    if on_path:
        return Path(on_path)
    raise AssertionError(
        f"PostgreSQL {name} not found: " + INSTALL_HINT.format(package="postgresql")
    )


@dataclass
class Postgres:
    """A PostgreSQL server in a temp folder, on 127.0.0.1:<port>, password auth."""

    root: Path
    port: int
    user: str = "dagster"
    password: str = "calaim-test-only"
    database: str = "dagster"

    @property
    def dsn(self) -> str:
        """A libpq URL of the server (CALAIM_LOCK_DSN: the cross-machine plan locks)."""
        return f"postgresql://{self.user}:{self.password}@{LOOPBACK}:{self.port}/{self.database}"

    @property
    def env(self) -> dict[str, str]:
        """The variables deploy/dagster.yaml reads."""
        return {
            "DAGSTER_PG_HOST": LOOPBACK,
            "DAGSTER_PG_PORT": str(self.port),
            "DAGSTER_PG_USER": self.user,
            "DAGSTER_PG_PASSWORD": self.password,
            "DAGSTER_PG_DB": self.database,
        }


def _as_postgres_user() -> list[str]:
    """PostgreSQL refuses to run as root: as root, run its binaries as the `postgres` user
    (created by the Debian package)."""
    if os.geteuid() != 0:
        return []
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        raise AssertionError(
            "running as root and no `postgres` user: " + INSTALL_HINT.format(package="postgresql")
        ) from None
    return ["setpriv", "--reuid=postgres", "--regid=postgres", "--init-groups", "--"]


@contextlib.contextmanager
def postgres_server(log_dir: Path, timeout: float = 60.0) -> Iterator[Postgres]:
    """initdb, start on loopback, yield; stop (fast) and delete the cluster afterwards."""
    # Outside pytest's 0700 temp tree, so the `postgres` user can reach it when we are root.
    root = Path(tempfile.mkdtemp(prefix="calaim-pg-"))
    server = Postgres(root=root, port=free_port())
    prefix = _as_postgres_user()
    if prefix:
        pw = pwd.getpwnam("postgres")
        os.chown(root, pw.pw_uid, pw.pw_gid)
    os.chmod(root, 0o700)
    pgdata, sockets, log = root / "data", root / "sockets", root / "postgres.log"
    pwfile = root / "pwfile"
    pwfile.write_text(server.password + "\n")
    if prefix:
        os.chown(pwfile, pw.pw_uid, pw.pw_gid)
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8"}
    started = False
    try:
        cmd = [*prefix, str(postgres_bin("initdb"))]
        run_checked(
            [
                *cmd,
                "-D",
                str(pgdata),
                "-U",
                server.user,
                f"--pwfile={pwfile}",
                "--auth=scram-sha-256",
                "--encoding=UTF8",
                "--no-sync",
            ],
            env,
            timeout=timeout,
        )
        run_checked([*prefix, "mkdir", "-p", str(sockets)], env, timeout=10)
        options = (
            f"-c listen_addresses={LOOPBACK} -p {server.port} -c unix_socket_directories={sockets} "
            "-c fsync=off -c max_connections=200"
        )
        run_checked(
            [
                *prefix,
                str(postgres_bin("pg_ctl")),
                "start",
                "-D",
                str(pgdata),
                "-l",
                str(log),
                "-o",
                options,
                "-w",
                "-t",
                str(int(timeout)),
            ],
            env,
            timeout=timeout + 10,
        )
        started = True
        client_env = {**env, "PGPASSWORD": server.password}
        run_checked(
            [
                str(postgres_bin("createdb")),
                "-h",
                LOOPBACK,
                "-p",
                str(server.port),
                "-U",
                server.user,
                server.database,
            ],
            client_env,
            timeout=timeout,
        )
        yield server
    finally:
        if started:
            subprocess.run(
                [
                    *prefix,
                    str(postgres_bin("pg_ctl")),
                    "stop",
                    "-D",
                    str(pgdata),
                    "-m",
                    "fast",
                    "-w",
                    "-t",
                    "30",
                ],
                env=env,
                capture_output=True,
                timeout=60,
                check=False,
            )
        if log.exists():
            log_dir.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(log, log_dir / "postgres.log")
        shutil.rmtree(root, ignore_errors=True)


# --- Dagster instances ---------------------------------------------------------------------------


def dagster_env(home: Path, data_root: Path, extra: Mapping[str, str] | None = None) -> dict:
    """Environment for Dagster processes on instance `home` over data root `data_root`."""
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("DAGSTER_", "CALAIM_", "PYTEST_"))
    }
    env.update(
        DAGSTER_HOME=str(home),
        CALAIM_DATA_DIR=str(data_root),
        PATH=f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        PYTHONUNBUFFERED="1",
    )
    env.update(extra or {})
    return env


def writer_sessions(journal: Path) -> list[dict]:
    """The warehouse's read-write sessions, ordered by start."""
    records = [json.loads(line) for line in journal.read_text().splitlines() if line.strip()]
    return sorted(records, key=lambda r: r["start_monotonic"])


def overlapping_sessions(sessions: Sequence[dict]) -> list[tuple[dict, dict]]:
    """Pairs of sessions whose [start, end] intervals intersect (same host: monotonic clock)."""
    pairs = []
    for i, first in enumerate(sessions):
        for second in sessions[i + 1 :]:
            if second["start_monotonic"] < first["end_monotonic"] and (
                first["start_monotonic"] < second["end_monotonic"]
            ):
                pairs.append((first, second))
    return pairs
