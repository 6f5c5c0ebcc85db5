"""The journal's SQLite connection: every query through it turns SQLite's errors about the file
into one-line RunErrors (JournalDamaged for a damaged file, DiskFull for a full disk), and the
reads that salvage a damaged file (rows by rowid, past what cannot be read).

A damaged journal (a disk fault: a page of zeros, a truncated file, another file in its place) is
one error line wherever it is read or written: every query of the connection turns SQLite's
"database disk image is malformed" / "file is not a database" into JournalDamaged, which names
the file and `lion-search salvage RUN` (lion_search/runs/salvage.py: the readable rows into a new
journal).
"""
from __future__ import annotations

import shutil
import sqlite3
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from lion_search.language.errors import DiskFull, JournalDamaged, RunError
from lion_search.runs.journal_schema import SCHEMA

_DAMAGE_CODES = (11, 26)        # SQLITE_CORRUPT, SQLITE_NOTADB (primary result codes)
_FULL_CODE = 13                 # SQLITE_FULL (SQLite's answer to ENOSPC)


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


def connect(path: Path) -> sqlite3.Connection:
    """A guarded connection to the journal at `path` (WAL mode, autocommit)."""
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


# ------------------------------------------------------------------ reading a damaged file

def open_damaged(path: Path) -> sqlite3.Connection:
    """A plain connection that reads as much of a damaged file as SQLite allows: with
    writable_schema on, a file cut short is read up to its end instead of refused whole (it is
    never written to). Its errors are sqlite3's own."""
    db = sqlite3.connect(path, isolation_level=None)
    try:
        db.execute("PRAGMA writable_schema = ON")
    except sqlite3.DatabaseError:
        pass
    return db


def table_names(db: sqlite3.Connection) -> set[str] | None:
    """The file's tables, or None when its schema cannot be read."""
    try:
        return {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    except sqlite3.DatabaseError:
        return None


def table_columns(db: sqlite3.Connection, table: str) -> tuple[str, ...]:
    """The columns of `table` (empty when they cannot be read)."""
    try:
        return tuple(r[1] for r in db.execute(f"PRAGMA table_info({table})"))
    except sqlite3.DatabaseError:
        return ()


def last_rowid(db: sqlite3.Connection, table: str) -> int | None:
    """The largest rowid of `table`, or None when it cannot be read."""
    try:
        return db.execute(f"SELECT MAX(rowid) FROM {table}").fetchone()[0]
    except sqlite3.DatabaseError:
        return None


def rows_from(db: sqlite3.Connection, table: str, columns: tuple[str, ...], start: int
              ) -> Iterator[tuple]:
    """The rows of `table` from rowid `start` on, rowid first, by its own b-tree (never an
    index); sqlite3.DatabaseError where a page cannot be read."""
    for row in db.execute(f"SELECT rowid, {', '.join(columns)} FROM {table} WHERE rowid >= ? "
                          "ORDER BY rowid", (start,)):
        yield tuple(row)


def row_at(db: sqlite3.Connection, table: str, columns: tuple[str, ...], rowid: int
           ) -> tuple | None:
    """The row of `table` at `rowid` (rowid first), None if there is none; sqlite3.DatabaseError
    when its page cannot be read."""
    row = db.execute(f"SELECT rowid, {', '.join(columns)} FROM {table} WHERE rowid = ?",
                     (rowid,)).fetchone()
    return None if row is None else tuple(row)


def write_journal(path: Path, meta: dict[str, str],
                  tables: dict[str, tuple[tuple[str, ...], list[tuple]]]) -> None:
    """Write a new journal file at `path`: the current tables, the `meta` rows, and for each
    table its (columns, rows) (the columns named, so rows of an older version leave newer
    columns NULL until the journal is migrated on open). Its errors are sqlite3's own."""
    db = sqlite3.connect(path, isolation_level=None)
    try:
        db.executescript(SCHEMA)
        db.execute("BEGIN")
        db.executemany("INSERT OR REPLACE INTO meta VALUES (?, ?)", meta.items())
        for table, (columns, rows) in tables.items():
            db.executemany(f"INSERT INTO {table} ({', '.join(columns)}) "
                           f"VALUES ({', '.join('?' * len(columns))})", rows)
        db.execute("COMMIT")
    finally:
        db.close()
