#!/usr/bin/env python3
"""Times the dashboard (the real binary in a pseudo-terminal, 140x40) against a running server.

Usage: scripts/time-dashboard.py BINARY API_URL PUBLISHABLE_KEY SECRET_KEY

Prints, in milliseconds from the start of the process: the header totals and the first
context drawn, and the header's "loaded"; then, from the key press, the next context's connections (`j`) and triage's
first rows (`t`); and the process's peak RSS (VmHWM). Every wait is bounded (60 s). The
screen is not emulated: the figures are the first time the expected text is written.
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
        [binary], stdin=slave, stdout=slave, stderr=slave, env=env, preexec_fn=controlling_terminal
    )
    os.close(slave)
    output = bytearray()

    def wait(pattern, since):
        """Reads until `pattern` appears in what was written after byte `since`."""
        regex = re.compile(pattern)
        while time.monotonic() - started < DEADLINE * 3:
            if regex.search(output, since):
                return time.monotonic()
            ready, _, _ = select.select([master], [], [], 0.01)
            if ready:
                try:
                    output.extend(os.read(master, 65536))
                except OSError:
                    break
        sys.exit(f"timed out waiting for {pattern!r}")

    totals = wait(rb"\d+ contexts \xc2\xb7", 0)
    first = wait(rb"org_\d{6}", 0)
    print(f"header totals: {(totals - started) * 1000:.0f} ms")
    print(f"first context drawn: {(first - started) * 1000:.0f} ms")
    loaded = wait(rb"loaded \d\d:\d\d", 0)
    print(f"header says loaded (the scan, or remote: the connectors, ended): {(loaded - started) * 1000:.0f} ms")
    # The first context's connections are read as it is selected at start; give the screen a
    # moment to settle, then time the next one's.
    time.sleep(1.0)
    mark = len(output)
    pressed = time.monotonic()
    os.write(master, b"j")
    shown = wait(rb"Connections of org_\d{6} [1-9]", mark)
    print(f"next context's connections: {(shown - pressed) * 1000:.0f} ms")
    time.sleep(0.5)
    mark = len(output)
    pressed = time.monotonic()
    os.write(master, b"t")
    wait(rb"TRIAGE: needs attention", mark)
    rows = wait(rb"\xe2\x9c\x97 error", mark)
    print(f"triage first rows: {(rows - pressed) * 1000:.0f} ms")
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
