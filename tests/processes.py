"""Finding and stopping processes by what they are, from /proc (no Ray API): the tests that start their own Ray heads,
nodes and drivers stop exactly what they started, and kill a Train worker, a trial driver or a whole simulated node on
purpose."""

from __future__ import annotations

import os
import signal
import socket


def cmdline(pid: int) -> str:
    """The command line of ``pid`` ("" once it has gone)."""
    try:
        return open(f"/proc/{pid}/cmdline", "rb").read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def environ(pid: int) -> dict[str, str]:
    """The environment ``pid`` started with ({} once it has gone or when it is not ours to read)."""
    try:
        raw = open(f"/proc/{pid}/environ", "rb").read()
    except OSError:
        return {}
    pairs = (entry.decode(errors="replace").partition("=") for entry in raw.split(b"\0") if entry)
    return {key: value for key, _, value in pairs}


def all_pids() -> list[int]:
    """Every process's PID."""
    return [int(entry) for entry in os.listdir("/proc") if entry.isdigit()]


def processes_with(text: str) -> list[int]:
    """PIDs whose command line contains ``text``."""
    return [pid for pid in all_pids() if text in cmdline(pid)]


def descendants(pid: int) -> list[int]:
    """PIDs of every process below ``pid`` (e.g. the GCS, raylet and workers of the Ray that process started)."""
    children: dict[int, list[int]] = {}
    for entry in all_pids():
        try:
            ppid = int(open(f"/proc/{entry}/stat").read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(entry)
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def titled(pids, title: bytes) -> list[int]:
    """Those of ``pids`` whose process title (first argv word) starts with ``title``, e.g. ``b"ray::RayTrainWorker"``
    (Ray Train workers) or ``b"ray::ImplicitFunc"`` (Tune function trainables: trial drivers)."""
    found = []
    for pid in pids:
        try:
            name = open(f"/proc/{pid}/cmdline", "rb").read().split(b"\0")[0]
        except OSError:
            continue
        if name.startswith(title):
            found.append(pid)
    return found


def running(pid: int) -> bool:
    """Whether ``pid`` still runs (a zombie has finished)."""
    try:
        state = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def kill_all(pids) -> None:
    """SIGKILL every one of ``pids`` that still exists."""
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass


def free_ports(n: int) -> list[int]:
    """``n`` TCP ports free on 127.0.0.1 just now."""
    sockets = [socket.socket() for _ in range(n)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports
