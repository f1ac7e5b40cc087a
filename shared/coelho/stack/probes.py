"""Readiness probes: small checks that raise or return False while a server is not up yet."""

from __future__ import annotations

import os
import socket
import urllib.request
from pathlib import Path

from coelho.stack.ports import HOST


def http_ok(url: str) -> bool:
    """True on HTTP 200; raises (URLError, HTTPError, timeout) otherwise."""
    with urllib.request.urlopen(url, timeout=2) as response:
        return bool(response.status == 200)


def http_ok_quiet(url: str) -> bool:
    """``http_ok`` that answers False instead of raising."""
    try:
        return http_ok(url)
    except OSError:
        return False


def accepts(port: int, host: str = HOST) -> bool:
    """True when a TCP connection to ``host:port`` succeeds."""
    with socket.create_connection((host, port), timeout=1):
        return True


def _listening_inodes(port: int) -> set[str]:
    """Socket inodes listening on ``port`` (any address), from /proc/net/tcp{,6}."""
    inodes: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            rows = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            cols = row.split()
            if len(cols) > 9 and cols[3] == "0A" and int(cols[1].rsplit(":", 1)[1], 16) == port:
                inodes.add(cols[9])
    return inodes


def session_listens(session: int, port: int) -> bool:
    """True when a process of session ``session`` holds the listening socket of ``port``.

    A readiness probe by address alone can be answered by a stranger: another stack that won
    the race for a default port. Children run in their own session (sid == their pid), so
    this asks the kernel whose socket it is. Without /proc (not Linux) it cannot tell: True.
    """
    if not Path("/proc/net/tcp").exists():
        return True
    wanted = {f"socket:[{inode}]" for inode in _listening_inodes(port)}
    if not wanted:
        return False
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            fields = (proc / "stat").read_text().rsplit(")", 1)[1].split()
            if int(fields[3]) != session:
                continue
            if any(os.readlink(fd) in wanted for fd in (proc / "fd").iterdir()):
                return True
        except (OSError, IndexError, ValueError):
            continue
    return False
