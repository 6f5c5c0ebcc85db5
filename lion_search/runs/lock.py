"""One writer per run folder: an exclusive `fcntl.flock` on the file `RUN/lock`.

A search (`evolve`) holds the lock from before it opens the journal until after it closes it,
and so does every other command that appends to a run: `simplify RUN:ID` (it saves the result
into the run), `funnel` (it writes RUN/funnel.json and RUN/winners/) and `salvage` on an
existing target folder. A second writer does not wait: it stops at once with one line naming
the process id and host that hold the lock, and what to do. Readers (`show`, `runs`, `report`,
`export`) never take it; `is_held` only asks whether someone holds it, which tells a running
search from an interrupted one on every host that sees the folder (a pid means something only
on its own host).

The kernel releases a flock when its holder exits, however it exits (SIGKILL and a crash
included), so a killed search leaves no stale lock and `evolve --resume` starts at once. The
file itself stays: removing it while another writer opens it would let both lock different
files. It records the last holder (pid, host, command, start time) for the message.

Network filesystems: on Linux NFS, flock is carried out as a POSIX byte-range lock through the
server's lock manager, so it holds across hosts; on a mount without locking (`nolock`, some
FUSE and SMB setups) each host only sees its own locks, and two hosts could both write. Where
the filesystem refuses locks altogether the writer stops with a line saying so.
"""
from __future__ import annotations

import errno
import fcntl
import json
import os
import socket
import time
from pathlib import Path
from typing import NamedTuple

from lion_search.language.errors import RunError

LOCK = "lock"
RETRIES = 10            # attempts, RETRY_S apart, before a writer gives up: a reader's probe
RETRY_S = 0.02          # holds the lock (shared) for microseconds, never longer


class RunLocked(RunError):
    """A run folder another process is writing (it holds RUN/lock)."""


class Holder(NamedTuple):
    """Who holds (or last held) a run's lock: process id, host, command, start (Unix time)."""

    pid: int
    host: str
    command: str
    since: float


class WriterLock:
    """A held writer lock; `release()` (or leaving the `with` block) lets it go."""

    def __init__(self, folder: Path, fd: int):
        self.folder = folder
        self.fd = fd

    def release(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)      # closing the file releases the flock
            self.fd = -1

    def __enter__(self) -> WriterLock:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def _would_block(err: OSError) -> bool:
    return err.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES)


def hold(folder: str | Path, command: str) -> WriterLock:
    """Take the exclusive writer lock of the existing run folder `folder` for `command` (what
    the user ran, such as "lion-search evolve") and record this process in it; RunLocked, at
    once, if another process holds it. Release it after the journal's connection is closed."""
    folder = Path(folder)
    path = folder / LOCK
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    except OSError as err:
        raise RunError(f"cannot open the writer lock {str(path)!r}: {err.strerror}") from None
    for attempt in range(RETRIES):
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            break
        except OSError as err:
            if not _would_block(err):
                os.close(fd)
                raise RunError(
                    f"cannot lock {str(path)!r} ({err.strerror}): this filesystem does not "
                    "support file locks; keep run folders on a local disk or a network "
                    "filesystem with locking") from None
            if attempt == RETRIES - 1:
                os.close(fd)
                raise locked(folder) from None
            time.sleep(RETRY_S)
    record = json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "command": command,
                         "since": time.time()})
    os.ftruncate(fd, 0)
    os.pwrite(fd, record.encode() + b"\n", 0)
    return WriterLock(folder, fd)


def holder(folder: str | Path) -> Holder | None:
    """The process recorded in RUN/lock (the holder, if it is held), or None if none is."""
    try:
        data = json.loads((Path(folder) / LOCK).read_text())
        return Holder(int(data["pid"]), str(data["host"]), str(data["command"]),
                      float(data["since"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def locked(folder: str | Path) -> RunLocked:
    """The one-line error for a run another process writes: who, where, and what to do."""
    who = holder(folder)
    for _ in range(RETRIES):       # the holder writes its record just after it takes the lock
        if who is not None:
            break
        time.sleep(RETRY_S)
        who = holder(folder)
    if who is None:
        by = "another process (it has not recorded its pid yet)"
        stop = "stop it"
    else:
        since = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(who.since))
        by = f"`{who.command}`, process {who.pid} on host {who.host}, since {since}"
        stop = f"stop it (Ctrl-C where it runs, or `kill {who.pid}` on {who.host})"
    return RunLocked(f"run folder {str(folder)!r} is being written by {by}: wait for it to end, "
                     f"or {stop}, then run this again")


def is_held(folder: str | Path) -> bool | None:
    """Whether some process holds the run's writer lock now; None when the run has no lock
    file (it was never written by a lion-search that locks) or it cannot be read."""
    try:
        fd = os.open(Path(folder) / LOCK, os.O_RDONLY)
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        return False
    except OSError as err:
        return True if _would_block(err) else None
    finally:
        os.close(fd)
