"""`make ui` and `make ui-readonly` stop cleanly (issue 11): SIGTERM to the make process, or Ctrl-C
(SIGINT to the terminal's foreground group: make, uv and the wrapper), leaves no webserver, daemon
or code server behind. Both start the way a background job does, with SIGINT ignored, which is
what made `dagster dev` ignore SIGINT and SIGTERM before."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
import urllib.parse

import pytest

from calaim_pipeline_tests.ops_support import (
    Proc,
    dagster_env,
    free_port,
    output_dir,
    wait_for_webserver,
)

STOP_WITHIN = 40.0  # seconds: Dagster's own shutdown, then SIGTERM and SIGKILL to the group


def _session_pids(sid: int) -> set[int]:
    """Every live process of the session (make and everything under it, whatever its group)."""
    out = subprocess.run(
        ["ps", "-e", "-o", "pid=,sid=,stat="], capture_output=True, text=True, check=True
    ).stdout
    found = set()
    for line in out.splitlines():
        pid, session, stat = line.split(None, 2)
        if int(session) == sid and not stat.startswith("Z"):
            found.add(int(pid))
    return found


def _start(target: str, url: str, env: dict, logs) -> Proc:
    port = urllib.parse.urlsplit(url).port
    log = logs / f"make-{target}.log"
    handle = log.open("wb")

    def background_job() -> None:
        os.setsid()
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # as a shell's background job starts

    popen = subprocess.Popen(
        ["make", "--no-print-directory", target, f"DATA={env['CALAIM_DATA_DIR']}", f"PORT={port}"],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=handle,
        stderr=subprocess.STDOUT,
        preexec_fn=background_job,
    )
    handle.close()
    return Proc(f"make-{target}", popen, log)


def _wait_gone(proc: Proc, before: set[int]) -> float:
    started = time.monotonic()
    while time.monotonic() - started < STOP_WITHIN:
        if proc.popen.poll() is not None and not (_session_pids(proc.popen.pid) & before):
            return time.monotonic() - started
        time.sleep(0.5)
    left = _session_pids(proc.popen.pid)
    for pid in left:  # leave nothing running for the next test
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    raise AssertionError(f"{proc.name}: still running after {STOP_WITHIN}s: {sorted(left)}")


@pytest.mark.slow
@pytest.mark.timeout(400)
def test_make_ui_stops_on_sigterm_and_make_ui_readonly_on_ctrl_c(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    env = dagster_env(data / "dagster_home", data)
    logs = output_dir("ui-stop")
    ui_url, ro_url = (f"http://127.0.0.1:{free_port()}" for _ in range(2))
    ui, ro = _start("ui", ui_url, env, logs), _start("ui-readonly", ro_url, env, logs)
    try:
        wait_for_webserver(ui_url, [ui, ro], timeout=240)
        wait_for_webserver(ro_url, [ui, ro], timeout=240)
        time.sleep(5)  # the daemon and its threads are up too

        ui_pids = _session_pids(ui.popen.pid)
        assert len(ui_pids) >= 5, ui.tail()  # make, uv, wrapper, dagster dev, its children
        ui.popen.send_signal(signal.SIGTERM)  # to make alone, as `kill <pid of make>` does
        seconds = _wait_gone(ui, ui_pids)
        # make waits for its children, then ends by the signal it got (GNU make re-raises it).
        assert ui.popen.returncode in (0, -signal.SIGTERM), ui.tail()
        assert "stopped" in ui.tail()

        ro_pids = _session_pids(ro.popen.pid)
        os.killpg(ro.popen.pid, signal.SIGINT)  # Ctrl-C: the terminal signals make's group
        ro_seconds = _wait_gone(ro, ro_pids)
        assert ro.popen.returncode in (0, -signal.SIGINT), ro.tail()
        assert "stopped" in ro.tail()
        print(f"make ui stopped in {seconds:.1f}s, make ui-readonly in {ro_seconds:.1f}s")
    finally:
        for proc in (ui, ro):
            if proc.popen.poll() is None:
                for pid in _session_pids(proc.popen.pid):
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGKILL)
