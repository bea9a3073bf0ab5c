"""calaim_pipeline.ui_server: the server it wraps starts with SIGINT/SIGTERM at their defaults
(even when its parent ignores SIGINT), and a stop leaves no process of its group behind, however
stubborn. The end-to-end check with `make ui` is test_ops_ui_stop.py."""

from __future__ import annotations

import signal
import subprocess
import sys
import time

from calaim_pipeline import ui_server

PYTHON = sys.executable


def _ignore_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # what a background shell gives its jobs


def test_the_server_starts_with_sigint_and_sigterm_at_their_defaults():
    probe = (
        "import signal; "
        "print(signal.getsignal(signal.SIGINT) is signal.default_int_handler, "
        "signal.getsignal(signal.SIGTERM) == signal.SIG_DFL)"
    )
    done = subprocess.run(
        [PYTHON, "-m", "calaim_pipeline.ui_server", PYTHON, "-c", probe],
        capture_output=True,
        text=True,
        timeout=60,
        preexec_fn=_ignore_sigint,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "True True"


def test_sigterm_stops_the_wrapper_and_its_group():
    # The wrapped "server" starts a child of its own, like dagster dev's webserver and daemon.
    server = "import subprocess, time; subprocess.Popen(['sleep', '300']); time.sleep(300)"
    wrapper = subprocess.Popen(
        [PYTHON, "-m", "calaim_pipeline.ui_server", PYTHON, "-c", server],
        stdout=subprocess.PIPE,
        text=True,
        preexec_fn=_ignore_sigint,
    )
    try:
        group = _wait_for_child_group(wrapper.pid)
        wrapper.send_signal(signal.SIGTERM)
        assert wrapper.wait(timeout=30) == 0
        assert not ui_server.group_alive(group)
        assert "stopped" in wrapper.stdout.read()
    finally:
        if wrapper.poll() is None:
            wrapper.kill()


def test_a_server_that_ignores_every_polite_signal_is_killed_with_its_group():
    stubborn = (
        "import signal, subprocess, time; "
        "signal.signal(signal.SIGINT, signal.SIG_IGN); signal.signal(signal.SIGTERM, signal.SIG_IGN); "
        "subprocess.Popen(['sleep', '300']); time.sleep(300)"
    )
    child = subprocess.Popen([PYTHON, "-c", stubborn], process_group=0)
    time.sleep(1.0)
    started = time.monotonic()
    ui_server.stop(child, grace=0.5, term=0.5)
    assert not ui_server.group_alive(child.pid)
    assert child.returncode == -signal.SIGKILL
    assert time.monotonic() - started < 10


def _wait_for_child_group(parent: int, timeout: float = 30.0) -> int:
    """The process group of `parent`'s child (the wrapped server leads its own)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        children = subprocess.run(
            ["ps", "-o", "pid=,pgid=", "--ppid", str(parent)],
            capture_output=True,
            text=True,
            check=False,
        ).stdout.split()
        if len(children) >= 2:
            pid, pgid = int(children[0]), int(children[1])
            assert pid == pgid  # its own group
            # wait until the server has started its own child
            grandchildren = subprocess.run(
                ["ps", "-o", "pid=", "--ppid", str(pid)],
                capture_output=True,
                text=True,
                check=False,
            ).stdout.split()
            if grandchildren:
                return pgid
        time.sleep(0.2)
    raise AssertionError("the wrapped server did not start")


def test_a_killed_wrapper_takes_the_server_with_it():
    """SIGKILL to the wrapper (a supervisor killing make's process group, where the server's own
    group is not): the server leader gets SIGTERM (Linux parent-death signal) and stops."""
    server = "import time; time.sleep(300)"
    wrapper = subprocess.Popen([PYTHON, "-m", "calaim_pipeline.ui_server", PYTHON, "-c", server])
    try:
        deadline = time.monotonic() + 30
        leader = None
        while leader is None and time.monotonic() < deadline:
            found = subprocess.run(
                ["ps", "-o", "pid=", "--ppid", str(wrapper.pid)], capture_output=True, text=True
            ).stdout.split()
            leader = int(found[0]) if found else None
            time.sleep(0.2)
        assert leader is not None, "the wrapped server did not start"
        wrapper.kill()
        wrapper.wait(timeout=10)
        deadline = time.monotonic() + 10
        while ui_server.group_alive(leader) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not ui_server.group_alive(leader)
    finally:
        if wrapper.poll() is None:
            wrapper.kill()
