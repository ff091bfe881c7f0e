"""A Ctrl-C is never lost: pctl.lifecycle.interrupt's mark, checked by the long waits.

Python raises the KeyboardInterrupt of a SIGINT wherever the main thread is; raised inside a finalizer it is
printed as "Exception ignored" and dropped. These run a real SIGINT into a real finalizer, in a child
process (the test process keeps its own handler), and check that the next wait still stops.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

from tests.conftest import REPO

CHILD = textwrap.dedent("""
    import gc, os, signal, sys, time
    from pctl.lifecycle import interrupt

    installed = interrupt.install_handler() if sys.argv[1] == "mark" else False

    class Swallows:
        def __del__(self):
            os.kill(os.getpid(), signal.SIGINT)
            for _ in range(1000):  # the handler runs here, inside the finalizer: its exception is dropped
                pass

    Swallows()
    gc.collect()
    print("still running", flush=True)
    started = time.monotonic()
    try:
        for _ in range(20):  # a poll loop
            interrupt.sleep(0.05)
        print(f"waited it out: {time.monotonic() - started:.1f} s", flush=True)
        sys.exit(3)
    except KeyboardInterrupt:
        print(f"stopped at the next wait, installed={installed}", flush=True)
        sys.exit(130)
""")


def _run(mode: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", CHILD, mode], cwd=REPO, capture_output=True, text=True, timeout=60)


def test_a_ctrl_c_swallowed_by_a_finalizer_stops_the_next_wait():
    done = _run("mark")
    assert "Exception ignored" in done.stderr and "KeyboardInterrupt" in done.stderr  # it really was dropped
    assert done.returncode == 130, done.stdout + done.stderr
    assert "still running" in done.stdout and "stopped at the next wait, installed=True" in done.stdout


def test_without_the_handler_the_same_ctrl_c_is_lost():
    """The control: Python's own handler loses it, and the loop waits to its end."""
    done = _run("plain")
    assert "Exception ignored" in done.stderr
    assert done.returncode == 3 and "waited it out" in done.stdout


def test_an_inherited_sig_ign_is_respected_and_handled_clears_the_mark():
    code = textwrap.dedent("""
        import signal
        from pctl.lifecycle import interrupt
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        assert interrupt.install_handler() is False and signal.getsignal(signal.SIGINT) is signal.SIG_IGN
        signal.signal(signal.SIGINT, signal.default_int_handler)
        assert interrupt.install_handler() is True
        try:
            signal.raise_signal(signal.SIGINT)
        except KeyboardInterrupt:
            pass
        assert interrupt.pending()
        interrupt.handled()
        interrupt.sleep(0)  # the rollback's waits run again
        print("ok")
    """)
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr
