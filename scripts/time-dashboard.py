#!/usr/bin/env python3
"""Times the dashboard (the real binary in a pseudo-terminal, 140x40) against a running server.

Usage: scripts/time-dashboard.py BINARY API_URL PUBLISHABLE_KEY SECRET_KEY [LAST_CONTEXT_ID]

DASHBOARD_ARGS adds arguments (e.g. `--max-connections 2000000` for a full scan of 1M).
Prints, in milliseconds from the start of the process: the header totals and the first
context drawn, and the header's "loaded"; then, from the key press, the next context's connections (`j`) and triage's
first rows (`t`); and the process's peak RSS (VmHWM). Every wait is bounded (60 s). The
screen is emulated with pyte (`pip install pyte`): a figure is the first time the screen
shows the expected text, checked after each read from the terminal.
"""

import fcntl
import os
import re
import select
import struct
import subprocess
import sys
import tempfile
import termios
import time

import pyte

DEADLINE = 60.0


def main():
    binary, api_url, publishable, secret = sys.argv[1:5]
    home = tempfile.mkdtemp(prefix="time-dashboard-")
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "TERM": "xterm-256color",
        "XKIT_API_URL": api_url,
        "XKIT_PUBLISHABLE_KEY": publishable,
        "XKIT_SECRET_KEY": secret,
        "XKIT_DASH_CONFIG_DIR": os.path.join(home, "config"),
        "XKIT_DASH_DATA_DIR": os.path.join(home, "data"),
        "XKIT_DASH_STATE_DIR": os.path.join(home, "state"),
    }
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 140, 0, 0))

    def controlling_terminal():
        os.setsid()
        fcntl.ioctl(0, termios.TIOCSCTTY, 0)

    started = time.monotonic()
    child = subprocess.Popen(
        [binary, *os.environ.get("DASHBOARD_ARGS", "").split()], stdin=slave, stdout=slave, stderr=slave, env=env, preexec_fn=controlling_terminal
    )
    os.close(slave)
    screen = pyte.Screen(140, 40)
    stream = pyte.ByteStream(screen)

    def text():
        return "\n".join(screen.display)

    def wait(pattern, right_pane=False):
        """Reads until the screen (or its right-hand panes) shows `pattern`."""
        regex = re.compile(pattern)
        while time.monotonic() - started < DEADLINE * 3:
            shown = "\n".join(line[56:] for line in screen.display) if right_pane else text()
            if regex.search(shown):
                return time.monotonic()
            ready, _, _ = select.select([master], [], [], 0.01)
            if ready:
                try:
                    stream.feed(os.read(master, 65536))
                except OSError:
                    break
        sys.exit(f"timed out waiting for {pattern!r}; the screen shows:\n{text()}")

    totals = wait(r"[1-9]\d* contexts ·")
    first = wait(r"org_\d{6}")
    print(f"header totals: {(totals - started) * 1000:.0f} ms")
    print(f"first context drawn: {(first - started) * 1000:.0f} ms")
    loaded = wait(r"│ loaded \d\d:\d\d")
    print(f"header says loaded (the scan, or remote: the connectors, ended): {(loaded - started) * 1000:.0f} ms")
    # The first context's connections are read as it is selected at start; give the screen a
    # moment to settle, then time the next one's.
    time.sleep(1.0)
    pressed = time.monotonic()
    os.write(master, b"j")
    shown = wait(r"Connections of org_\d{5}1 [1-9]")
    print(f"next context's connections: {(shown - pressed) * 1000:.0f} ms")
    time.sleep(0.5)
    pressed = time.monotonic()
    os.write(master, b"t")
    rows = wait(r"TRIAGE: needs attention [1-9](.|\n)*✗ error", right_pane=True)
    print(f"triage first rows: {(rows - pressed) * 1000:.0f} ms")
    if len(sys.argv) > 5:
        # Back to the contexts, then `G`: the last context (its id is the fifth argument).
        os.write(master, b"t")
        time.sleep(0.5)
        pressed = time.monotonic()
        os.write(master, b"G")
        last = wait(re.escape(sys.argv[5]))
        print(f"G to the last context: {(last - pressed) * 1000:.0f} ms")
    with open(f"/proc/{child.pid}/status") as status:
        peak = next(line for line in status if line.startswith("VmHWM"))
    print(f"peak RSS: {peak.split()[1]} kB")
    os.write(master, b"q")
    try:
        child.wait(timeout=10)
    except subprocess.TimeoutExpired:
        child.kill()


if __name__ == "__main__":
    main()
