"""The run journal: one SQLite database (WAL mode) per run folder, written as results arrive.

A run folder `runs/NAME/` holds `journal.sqlite` with
    meta         the run config (JSON), format tag, state, heartbeat
    programs     every program: text, data-flow hash, parent, mutation, origin
    evaluations  every result: fitness, status, task, seeds, wall time, worker, cache hit or trained
Each result is committed when it arrives, so a run killed at any moment loses nothing that was
evaluated, and the population (the last P evaluated children) can be rebuilt from the journal.

A damaged journal (a disk fault: a page of zeros, a truncated file, another file in its place) is
one error line wherever it is read or written: every query of the connection turns SQLite's
"database disk image is malformed" / "file is not a database" into JournalDamaged, which names
the file and `lion-search salvage RUN` (lion_search/runs/salvage.py: the readable rows into a new
journal). Opening a journal checks its structure (`PRAGMA quick_check`) when it is at most
CHECK_LIMIT bytes (about 0.1 s), and always before a resumed search appends to it, so a damaged
page is found before a command shows a partial answer.
"""
from __future__ import annotations

import json
import math
import os
import shutil
import sqlite3
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator, NamedTuple

from lion_search.language.errors import DiskFull, JournalDamaged, RunError
from lion_search.runs.lock import is_held

FORMAT = "lion-search-run/1"
JOURNAL = "journal.sqlite"
CHECK_LIMIT = 64 * 2**20        # journals up to this size are checked whole when opened
_DAMAGE_CODES = (11, 26)        # SQLITE_CORRUPT, SQLITE_NOTADB (primary result codes)
_FULL_CODE = 13                 # SQLITE_FULL (SQLite's answer to ENOSPC)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS programs (
    id INTEGER PRIMARY KEY,
    text TEXT NOT NULL,
    hash TEXT NOT NULL,            -- data-flow hash (see dedup)
    fingerprint TEXT NOT NULL,     -- functional fingerprint (see dedup)
    parent INTEGER REFERENCES programs(id),
    mutation TEXT NOT NULL,
    origin TEXT NOT NULL,          -- seed | calibration | child | reference | simplified
    created REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS evaluations (
    id INTEGER PRIMARY KEY,
    program INTEGER NOT NULL REFERENCES programs(id),
    kind TEXT NOT NULL,            -- search | seed | calibration | metaval | simplified |
                                   -- reference | promotion-reference | promotion (one task;
                                   -- worker holds the best lr factor) | promoted (the score)
    fitness REAL,                  -- NULL stands for the worst fitness (+inf)
    status TEXT NOT NULL,          -- ok | diverged | hurdle
    cached INTEGER NOT NULL,       -- 1: fitness reused from an equivalent program, not trained
    task TEXT NOT NULL,
    seeds TEXT NOT NULL,
    seconds REAL NOT NULL,
    worker TEXT NOT NULL,
    created REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS evaluations_by_program ON evaluations(program);
CREATE INDEX IF NOT EXISTS programs_by_hash ON programs(hash);
"""


class ProgramRow(NamedTuple):
    """One journaled program."""

    id: int
    text: str
    hash: str
    fingerprint: str
    parent: int | None
    mutation: str
    origin: str
    created: float


class EvaluationRow(NamedTuple):
    """One journaled evaluation (fitness is +inf for failed runs)."""

    id: int
    program: int
    kind: str
    fitness: float
    status: str
    cached: bool
    task: str
    seeds: str
    seconds: float
    worker: str
    created: float


def _fitness_out(value: float | None) -> float:
    return math.inf if value is None else value


def _fitness_in(value: float) -> float | None:
    return value if math.isfinite(value) else None


def is_damage(err: BaseException) -> bool:
    """Whether a sqlite3 error says the database file itself is damaged."""
    code = getattr(err, "sqlite_errorcode", None)
    return (isinstance(err, sqlite3.DatabaseError) and code is not None
            and code & 0xFF in _DAMAGE_CODES)


def damaged(journal: Path, why: object) -> JournalDamaged:
    """The one-line error for a damaged journal: the file, what is wrong, what to do."""
    journal = Path(journal)
    why = str(why).strip().splitlines()[0] if str(why).strip() else "unreadable"
    return JournalDamaged(
        f"run journal {str(journal)!r} is damaged ({why}); `lion-search salvage "
        f"{journal.parent}` copies its readable programs and evaluations into a new run folder")


def disk_full(folder: Path) -> DiskFull:
    """The one-line error for a write the disk had no room for: the run folder, the space left
    on its filesystem, and what to do. A failed write is rolled back whole, so every result
    committed before it is kept."""
    try:
        free = f"{shutil.disk_usage(folder).free / 2**20:.1f} MiB free"
    except OSError:
        free = "free space unknown"
    return DiskFull(f"the disk holding run folder {str(folder)!r} is full ({free}); every result "
                    "committed so far is kept: free some space, then run the command again (a "
                    f"search continues with `lion-search evolve --out {folder} --resume`)")


@contextmanager
def _guard(journal: Path) -> Iterator[None]:
    """Turn SQLite's errors about the journal into one-line RunErrors (JournalDamaged for a
    damaged file, DiskFull for a full disk); programming errors (bad SQL, closed connection)
    stay as they are."""
    try:
        yield
    except (sqlite3.ProgrammingError, sqlite3.InterfaceError):
        raise
    except sqlite3.DatabaseError as err:
        if is_damage(err):
            raise damaged(journal, err) from None
        if getattr(err, "sqlite_errorcode", 0) & 0xFF == _FULL_CODE:
            raise disk_full(journal.parent) from None
        raise RunError(f"cannot use run journal {str(journal)!r}: {err}") from None


class _Cursor(sqlite3.Cursor):
    """A cursor whose SQLite errors are RunErrors naming the journal (see _guard)."""

    def execute(self, *args: Any) -> "_Cursor":
        with _guard(self.connection.journal):
            return super().execute(*args)

    def executemany(self, *args: Any) -> "_Cursor":
        with _guard(self.connection.journal):
            return super().executemany(*args)

    def executescript(self, *args: Any) -> "_Cursor":
        with _guard(self.connection.journal):
            return super().executescript(*args)

    def fetchone(self) -> Any:
        with _guard(self.connection.journal):
            return super().fetchone()

    def fetchmany(self, *args: Any) -> list:
        with _guard(self.connection.journal):
            return super().fetchmany(*args)

    def fetchall(self) -> list:
        with _guard(self.connection.journal):
            return super().fetchall()

    def __next__(self) -> Any:
        with _guard(self.connection.journal):
            return super().__next__()


class _Connection(sqlite3.Connection):
    """A journal's connection: every query goes through _Cursor, commits through _guard."""

    journal: Path

    def cursor(self, factory: type = _Cursor) -> sqlite3.Cursor:   # type: ignore[override]
        return super().cursor(factory)

    def execute(self, *args: Any) -> _Cursor:                       # type: ignore[override]
        return self.cursor().execute(*args)

    def executemany(self, *args: Any) -> _Cursor:                   # type: ignore[override]
        return self.cursor().executemany(*args)

    def executescript(self, *args: Any) -> _Cursor:                 # type: ignore[override]
        return self.cursor().executescript(*args)

    def commit(self) -> None:
        with _guard(self.journal):
            super().commit()

    def __exit__(self, *exc: Any) -> Any:
        with _guard(self.journal):
            return super().__exit__(*exc)


def _connect(path: Path) -> sqlite3.Connection:
    try:
        connection = sqlite3.connect(path, timeout=30.0, isolation_level=None,
                                     factory=_Connection)
    except sqlite3.Error as err:
        raise RunError(f"cannot open run journal {str(path)!r}: {err}") from None
    connection.journal = Path(path)
    try:
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("PRAGMA synchronous=NORMAL")
    except RunError:
        connection.close()
        raise
    return connection


def check_journal(connection: sqlite3.Connection, journal: Path) -> None:
    """Raise JournalDamaged unless SQLite's structural check of the journal passes."""
    rows = connection.execute("PRAGMA quick_check(1)").fetchall()
    if [tuple(r) for r in rows] != [("ok",)]:
        lines = [line.strip() for r in rows for line in str(r[0]).splitlines()
                 if line.strip() and not line.startswith("*** ")]
        raise damaged(journal, "database disk image is malformed: " + "; ".join(lines[:1]))


class RunStore:
    """Read and append to one run's journal. Writers: the search process only."""

    def __init__(self, folder: Path, connection: sqlite3.Connection):
        self.folder = folder
        self.db = connection

    # ---------------------------------------------------------------- opening and creating

    @classmethod
    def create(cls, folder: str | Path, config: dict[str, Any], force: bool = False) -> "RunStore":
        """Start a new run folder; an existing run is never overwritten unless `force`."""
        folder = Path(folder)
        journal = folder / JOURNAL
        if folder.exists() and any(folder.iterdir()):
            if not force:
                raise RunError(f"run folder {str(folder)!r} already exists; use --resume to "
                               "continue it or --force to overwrite it")
            for name in (JOURNAL, f"{JOURNAL}-wal", f"{JOURNAL}-shm"):
                (folder / name).unlink(missing_ok=True)
        draft = folder / f"{JOURNAL}.new"
        try:
            folder.mkdir(parents=True, exist_ok=True)
            cls._write_new_journal(draft, config)
            # Renamed into place complete, so a reader (`show` on a starting run) or a crash
            # never meets a journal without its tables.
            os.replace(draft, journal)
            return cls(folder, _connect(journal))
        except (OSError, sqlite3.Error) as err:
            raise RunError(f"cannot create run folder {str(folder)!r}: {err}") from None

    @classmethod
    def _write_new_journal(cls, path: Path, config: dict[str, Any]) -> None:
        """Write a journal holding the schema and the meta rows of a new run at `path`, then close
        it (closing the last connection folds the WAL back into the file)."""
        path.unlink(missing_ok=True)
        draft = cls(path.parent, _connect(path))
        try:
            draft.db.executescript(_SCHEMA)
            with draft.db:
                draft._set("format", FORMAT)
                draft._set("config", json.dumps(config, sort_keys=True))
                draft._set("created", repr(time.time()))
                draft._set("state", "running")
        finally:
            draft.close()

    @classmethod
    def open(cls, folder: str | Path, verify: bool | None = None) -> "RunStore":
        """Open an existing run folder, or raise RunError saying why it is not one
        (JournalDamaged for a damaged journal). `verify`: check the whole journal's structure
        first (True: always, as before a resumed search appends; None: when it is at most
        CHECK_LIMIT bytes; False: never, damage is then found by the reads that meet it)."""
        folder = Path(folder)
        journal = folder / JOURNAL
        if not folder.is_dir():
            raise RunError(f"no run folder {str(folder)!r}")
        if not journal.is_file():
            raise RunError(f"{str(folder)!r} is not a lion-search run folder (no {JOURNAL})")
        size = journal.stat().st_size
        if size == 0:
            raise damaged(journal, "the file is empty: nothing in it can be read")
        store = cls(folder, _connect(journal))
        try:
            if verify or (verify is None and size <= CHECK_LIMIT):
                check_journal(store.db, journal)
            tables = {r[0] for r in store.db.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table'")}
            if not {"meta", "programs", "evaluations"} <= tables:
                raise RunError(f"{str(journal)!r} is not a lion-search run journal (an SQLite "
                               f"database without its tables: {', '.join(sorted(tables)) or 'none'})")
            tag = store._get("format")
        except BaseException:
            store.close()
            raise
        if tag != FORMAT:
            store.close()
            raise RunError(f"{str(journal)!r} is not a lion-search run journal "
                           f"(format {tag!r}, expected {FORMAT!r})")
        return store

    def close(self) -> None:
        self.db.close()

    # ----------------------------------------------------------------------------- meta

    def _set(self, key: str, value: str) -> None:
        self.db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, value))

    def _get(self, key: str) -> str | None:
        row = self.db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    @property
    def config(self) -> dict[str, Any]:
        """The run's configuration, as stored when it was created (or last resumed)."""
        return json.loads(self._get("config") or "{}")

    def set_config(self, config: dict[str, Any]) -> None:
        with self.db:
            self._set("config", json.dumps(config, sort_keys=True))

    def set_state(self, state: str) -> None:
        """running | finished | interrupted; with the writer's pid and a heartbeat time."""
        with self.db:
            self._set("state", state)
            self._set("pid", str(os.getpid()))
            self._set("heartbeat", repr(time.time()))

    def state(self) -> str:
        """The run's state; a 'running' run reads 'interrupted' when no process holds its
        writer lock (runs/lock.py: told alike on every host that sees the folder), or, in a
        folder without a lock file (a run from before locks), when its writer's pid is gone."""
        state = self._get("state") or "unknown"
        if state != "running":
            return state
        held = is_held(self.folder)
        if held is None:
            pid = int(self._get("pid") or 0)
            held = not pid or _alive(pid)
        return "running" if held else "interrupted"

    def set_value(self, key: str, value: Any) -> None:
        """Store any JSON value under `key` in the run's metadata."""
        with self.db:
            self._set(key, json.dumps(value))

    def value(self, key: str, default: Any = None) -> Any:
        raw = self._get(key)
        return default if raw is None else json.loads(raw)

    # ------------------------------------------------------------------------- writing

    def add_program(self, text: str, keys: tuple[str, str], parent: int | None, mutation: str,
                    origin: str) -> int:
        """Journal a program with its (data-flow hash, fingerprint); returns its id."""
        with self.db:
            cursor = self.db.execute(
                "INSERT INTO programs (text, hash, fingerprint, parent, mutation, origin, created) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                (text, *keys, parent, mutation, origin, time.time()))
        return int(cursor.lastrowid)

    def add_evaluation(self, program: int, kind: str, fitness: float, status: str, cached: bool,
                       task: str, seeds: tuple[int, ...], seconds: float, worker: str) -> int:
        """Journal one result, committed at once; returns its id."""
        with self.db:
            cursor = self.db.execute(
                "INSERT INTO evaluations (program, kind, fitness, status, cached, task, seeds, "
                "seconds, worker, created) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (program, kind, _fitness_in(fitness), status, int(cached), task,
                 json.dumps(list(seeds)), seconds, worker, time.time()))
            self._set("heartbeat", repr(time.time()))
        return int(cursor.lastrowid)

    # ------------------------------------------------------------------------- reading

    def program(self, program_id: int) -> ProgramRow:
        row = self.db.execute("SELECT * FROM programs WHERE id = ?", (program_id,)).fetchone()
        if row is None:
            raise RunError(f"run {str(self.folder)!r} has no program {program_id}")
        return ProgramRow(*row)

    def evaluations(self, kind: str = "search", last: int | None = None) -> list[EvaluationRow]:
        """Evaluations of one kind in journal order (only the `last` ones if given)."""
        query = "SELECT * FROM evaluations WHERE kind = ? ORDER BY id"
        rows = self.db.execute(query, (kind,)).fetchall()
        rows = rows[-last:] if last else rows
        return [EvaluationRow(*r[:3], _fitness_out(r[3]), r[4], bool(r[5]), *r[6:]) for r in rows]

    def count(self, kind: str = "search", cached: bool | None = None) -> int:
        """How many evaluations of `kind` (trained only, cache hits only, or all)."""
        query = "SELECT COUNT(*) FROM evaluations WHERE kind = ?"
        params: tuple = (kind,)
        if cached is not None:
            query += " AND cached = ?"
            params += (int(cached),)
        return int(self.db.execute(query, params).fetchone()[0])

    def best(self, k: int = 1, kind: str = "search") -> list[tuple[ProgramRow, EvaluationRow]]:
        """The k best distinct programs (by data-flow hash) with their best evaluation."""
        rows = self.db.execute(
            "SELECT p.*, e.* FROM evaluations e JOIN programs p ON p.id = e.program "
            "WHERE e.kind = ? AND e.fitness IS NOT NULL ORDER BY e.fitness, e.id", (kind,))
        out, seen = [], set()
        for row in rows:
            program = ProgramRow(*row[:8])
            if program.hash in seen:
                continue
            seen.add(program.hash)
            e = row[8:]
            out.append((program, EvaluationRow(*e[:3], _fitness_out(e[3]), e[4], bool(e[5]),
                                               *e[6:])))
            if len(out) == k:
                break
        return out

    def best_fitness(self, ids: list[int],
                     kinds: tuple[str, ...] = ("search", "seed")) -> dict[int, float]:
        """Each program's best fitness among its evaluations of `kinds` (inf when it only failed;
        programs never evaluated are left out)."""
        marks, kind_marks = ",".join("?" * len(ids)), ",".join("?" * len(kinds))
        rows = self.db.execute(
            f"SELECT program, MIN(fitness) FROM evaluations WHERE kind IN ({kind_marks}) "
            f"AND program IN ({marks}) GROUP BY program", (*kinds, *ids)).fetchall()
        return {pid: _fitness_out(f) for pid, f in rows}

    def pending(self) -> list[ProgramRow]:
        """Children journaled but never evaluated (in flight when the run stopped)."""
        rows = self.db.execute(
            "SELECT * FROM programs p WHERE origin = 'child' AND NOT EXISTS "
            "(SELECT 1 FROM evaluations e WHERE e.program = p.id) ORDER BY id").fetchall()
        return [ProgramRow(*r) for r in rows]

    def programs(self) -> Iterator[ProgramRow]:
        for row in self.db.execute("SELECT * FROM programs ORDER BY id"):
            yield ProgramRow(*row)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def new_run_folder(root: str | Path = "runs") -> Path:
    """A run folder named for the time, `root/2026-11-21_18-32-53`, that does not exist yet (a
    second run started within the same second gets `-2`, then `-3`, ...)."""
    stamp = Path(root) / time.strftime("%Y-%m-%d_%H-%M-%S")
    folder, k = stamp, 1
    while folder.exists():
        k += 1
        folder = stamp.with_name(f"{stamp.name}-{k}")
    return folder


def resolve_run(path: str | Path = "runs/latest") -> Path:
    """A run folder path; `runs/latest` follows the link to the newest run."""
    path = Path(path)
    return path.resolve() if path.is_symlink() else path


def link_latest(folder: Path) -> None:
    """Point `<parent>/latest` at `folder` (best effort: a failure here loses nothing)."""
    link = folder.parent / "latest"
    try:
        if link.is_symlink() or link.exists():
            link.unlink()
        link.symlink_to(folder.name)
    except OSError:
        pass
