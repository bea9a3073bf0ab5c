"""Which process made a temporary file or staging folder, and whether that process still lives.

Runs share the data root (the daemon runs two plan-months at once, and `calaim run` may run beside
it), so the clean-up at the start of a run may remove only what a *dead* process left behind. Every
temporary name and staging folder therefore carries its creator's token:

    <pid>-<process start time>-<host id><boot id>

The start time (Linux: /proc/<pid>/stat, in clock ticks since boot) tells a reused pid from the
owner; the boot id makes everything from before a reboot dead; the host id keeps a file made on
another machine or container sharing the folder out of reach of this machine's pid checks (those
are judged by age instead, see ``FOREIGN_GRACE_SECONDS``).
"""

from __future__ import annotations

import hashlib
import os
import re
import socket
import time
from functools import cache
from pathlib import Path
from typing import NamedTuple

TEMP_PREFIX = ".tmp-"
# Something made on another host (a run-worker container sharing the volume) cannot be checked
# by pid; it counts as dead once older than any run lives (run monitoring fails runs after 4 h).
FOREIGN_GRACE_SECONDS = 24 * 3600
_TOKEN = r"(\d+)-(\d+)-([0-9a-f]{6})([0-9a-f]{6})"
_TEMP_NAME = re.compile(rf"(?:tmp_)?\.tmp-{_TOKEN}-")
_FOLDER_NAME = re.compile(rf"_{_TOKEN}_[0-9a-f]{{8}}$")


class Owner(NamedTuple):
    pid: int
    start: int
    host: str
    boot: str


def _short_hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:6]


@cache
def _host_id() -> str:
    return _short_hash(socket.gethostname())


@cache
def _boot_id() -> str:
    try:
        return _short_hash(Path("/proc/sys/kernel/random/boot_id").read_text().strip())
    except OSError:
        return "000000"  # no boot id on this system: pids alone decide


def _start_time(pid: int) -> int | None:
    """The process's start time in clock ticks since boot; None when it does not exist, 0 when
    the system has no /proc (then only the pid is compared)."""
    stat = Path(f"/proc/{pid}/stat")
    if not Path("/proc/self/stat").exists():
        return 0
    try:
        text = stat.read_text()
    except OSError:
        return None
    # Field 22; the command name (field 2) may hold spaces and parentheses, so count from its end.
    return int(text[text.rindex(")") + 2 :].split()[19])


def current() -> Owner:
    """This process (recomputed per call: a forked worker has its own pid)."""
    pid = os.getpid()
    return Owner(pid, _start_time(pid) or 0, _host_id(), _boot_id())


def token(owner: Owner | None = None) -> str:
    owner = owner or current()
    return f"{owner.pid}-{owner.start}-{owner.host}{owner.boot}"


def temp_prefix() -> str:
    """Prefix for a temporary file name (``tempfile.mkstemp(prefix=...)``) owned by this process."""
    return f"{TEMP_PREFIX}{token()}-"


def folder_name(label: str) -> str:
    """A staging folder name owned by this process: ``<label>_<token>_<random>``."""
    return f"{label}_{token()}_{os.urandom(4).hex()}"


def parse_token(text: str) -> Owner | None:
    match = re.fullmatch(_TOKEN, text)
    return Owner(int(match[1]), int(match[2]), match[3], match[4]) if match else None


def temp_owner(name: str) -> Owner | None:
    """The owner of a temporary file name (``.tmp-<token>-...``, DuckDB's ``tmp_.tmp-<token>-...``)."""
    match = _TEMP_NAME.match(name)
    return Owner(int(match[1]), int(match[2]), match[3], match[4]) if match else None


def folder_owner(name: str) -> Owner | None:
    match = _FOLDER_NAME.search(name)
    return Owner(int(match[1]), int(match[2]), match[3], match[4]) if match else None


def is_alive(owner: Owner) -> bool | None:
    """True/False for a process of this host; None when it ran on another host (unknowable)."""
    if owner.host != _host_id():
        return None
    if owner.boot != _boot_id():
        return False  # this machine rebooted since: every process of that boot is gone
    start = _start_time(owner.pid)
    if start is None:
        return False
    if start:
        return start == owner.start
    try:
        os.kill(owner.pid, 0)  # no /proc: the pid alone (a reused pid keeps debris, never kills)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def left_behind(path: Path, owner: Owner | None) -> bool:
    """Whether ``path`` (a temporary file or staging folder) was left by a process that is gone.

    A name without a token predates owner tokens and so was made by an earlier version: dead."""
    if owner is None:
        return True
    alive = is_alive(owner)
    if alive is None:
        try:
            return time.time() - path.lstat().st_mtime > FOREIGN_GRACE_SECONDS
        except FileNotFoundError:
            return False
    return not alive
