"""Run a Dagster server command (`dagster dev`, `dagster-webserver`) so that Ctrl-C or SIGTERM
stops it and every process it started.

Why: `make ui` started `dagster dev` under make and uv. When its parent shell ignores SIGINT (any
background or non-interactive start: a terminal multiplexer, nohup, CI, a test), Python starts
with SIGINT ignored and `dagster dev` maps SIGTERM onto that same handler, so it ignored both and
only SIGKILL stopped it, leaving the webserver, daemon and code server running. This wrapper
starts the command in its own process group with SIGINT and SIGTERM at their defaults, and on
SIGINT, SIGTERM or SIGHUP asks it to stop (SIGINT: Dagster's own orderly shutdown of its children),
then sends SIGTERM and finally SIGKILL to whatever of the group is left. Should the wrapper itself
be killed outright, the server is killed with it (Linux parent-death signal).

    python -m calaim_pipeline.ui_server dagster dev -w workspace.yaml -h 127.0.0.1 -p 3000
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import sys
import time
from types import FrameType

# Both together stay under the 10 s a supervisor that kills make's own process group commonly
# allows (the tests' stop_process does): the wrapper finishes its stop before it is SIGKILLed.
GRACE_SECONDS = 5.0  # for Dagster's own shutdown (webserver, daemon, code server)
TERM_SECONDS = 3.0  # then SIGTERM to the group, then SIGKILL
PR_SET_PDEATHSIG = 1  # linux/prctl.h
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


class _Stop(Exception):
    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


def _raise_stop(signum: int, frame: FrameType | None) -> None:
    raise _Stop(signum)


def group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _signal_group(pgid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signum)


def _wait_group(child: subprocess.Popen, pgid: int, seconds: float) -> bool:
    """Wait until the leader has exited and no process of the group is left."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        child.poll()  # reap the leader, so it does not count as alive
        if child.returncode is not None and not group_alive(pgid):
            return True
        time.sleep(0.1)
    child.poll()
    return child.returncode is not None and not group_alive(pgid)


def stop(child: subprocess.Popen, grace: float = GRACE_SECONDS, term: float = TERM_SECONDS) -> None:
    """SIGINT to the leader (orderly), then SIGTERM, then SIGKILL to the whole group."""
    pgid = child.pid  # the leader of its own group (process_group=0)
    with contextlib.suppress(ProcessLookupError):
        child.send_signal(signal.SIGINT)
    if _wait_group(child, pgid, grace):
        return
    _signal_group(pgid, signal.SIGTERM)
    if _wait_group(child, pgid, term):
        return
    _signal_group(pgid, signal.SIGKILL)
    _wait_group(child, pgid, 5.0)


def _die_with_parent() -> None:
    """In the child before exec (Linux): SIGTERM it when the wrapper dies, even by SIGKILL, so a
    supervisor that kills only make's process group cannot leave the server running. SIGTERM, not
    SIGKILL: dagster dev then shuts down its webserver, daemon and code server itself (killed
    outright, it leaves the webserver and daemon running)."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    except (OSError, AttributeError):  # not Linux: the signals above still stop it
        pass


def run(command: list[str]) -> int:
    """Run `command` until it exits (its exit code) or a stop signal arrives (then 0)."""
    for signum in STOP_SIGNALS:
        # A handler, not SIG_IGN: the child starts with these at their defaults (exec resets
        # caught signals), so Dagster installs its own shutdown handling.
        signal.signal(signum, _raise_stop)
    try:
        child = subprocess.Popen(command, process_group=0, preexec_fn=_die_with_parent)
    except _Stop:
        return 0
    try:
        code = child.wait()
        if group_alive(child.pid):  # it exited on its own: leave none of its children behind
            stop(child, grace=0.0)
        return code
    except _Stop as stop_signal:
        for signum in STOP_SIGNALS:
            signal.signal(signum, signal.SIG_IGN)  # a second Ctrl-C does not cut the stop short
        name = signal.Signals(stop_signal.signum).name
        print(f"\nstopping {command[0]} ({name}): webserver, daemon and code server", flush=True)
        stop(child)
        print("stopped", flush=True)
        return 0


def main(argv: list[str] | None = None) -> int:
    command = list(sys.argv[1:] if argv is None else argv)
    if command[:1] == ["--"]:
        command = command[1:]
    if not command:
        print("usage: python -m calaim_pipeline.ui_server COMMAND [ARGS...]", file=sys.stderr)
        return 2
    return run(command)


if __name__ == "__main__":
    sys.exit(main())
