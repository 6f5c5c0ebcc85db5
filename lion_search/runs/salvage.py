"""Salvage a damaged run journal: copy the rows SQLite can still read into a new run folder.

A disk fault can leave a page of zeros in the middle of `journal.sqlite`, or cut the file short;
SQLite then calls the file malformed, and every command that reads it stops with one line
(store.JournalDamaged). `lion-search salvage RUN [-o NEW]` keeps what is readable, so evaluations
already paid for are not lost:

- Each table (meta, programs, evaluations, and twins where the journal has them) is read by
  rowid through its own b-tree, never through an index: a range scan from the first rowid, and
  where it meets an unreadable page, rowid by rowid until a row reads again, then a range scan
  from there. Indexes are rebuilt by the new journal, so a damaged index page loses nothing.
  This needs only Python's sqlite3.
- Where even the schema cannot be read (the file's first page is damaged, or it is not SQLite),
  the `sqlite3` command-line shell's `.recover`, if installed, rebuilds what it can from the raw
  pages into a scratch database, which is then copied the same way.
- Rows are copied unchanged (same ids); evaluations of a program whose row was lost are left
  out (a search could not use them), and children whose evaluation was lost are trained again
  when the salvaged run is resumed (`lion-search evolve --out NEW --resume`).
- A journal of an older schema version keeps its version in the copy, which is migrated when it
  is opened, as the original would have been.

The reads and the writing are the journal's (journal_sqlite); this module decides what to read
and what to keep.
"""
from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import tempfile
import time
from pathlib import Path
from typing import NamedTuple

from lion_search.language.errors import RunError
from lion_search.runs.journal import FORMAT, JOURNAL, RunStore
from lion_search.runs.journal_schema import LATER_TABLES, TABLES, EvalKind
from lion_search.runs.journal_sqlite import (
    last_rowid,
    open_damaged,
    row_at,
    rows_from,
    table_columns,
    table_names,
    write_journal,
)

GIVE_UP_AFTER = 10_000   # rowids probed past the last readable row when the table's end is lost


class TableSalvage(NamedTuple):
    """What was read of one table: its rows (rowid first, then `columns`) and how many rowids
    failed to read."""

    rows: list[tuple]
    unreadable: int       # rowids that raised an error when read one by one
    last: int | None      # the table's largest rowid, if it could be read
    columns: tuple[str, ...] = ()   # the columns read (those of the journal's version)


class SalvageReport(NamedTuple):
    source: Path
    out: Path
    method: str                        # "rows" (Python's sqlite3) or "recover" (sqlite3 .recover)
    tables: dict[str, TableSalvage]
    orphans: int                       # evaluations left out: their program was lost
    trained: int                       # trained search evaluations in the new journal
    lost_seeds: list[int]              # seed programs lost (the run cannot be resumed)
    config: bool                       # whether the run's configuration was recovered
    rebuilt_seeds: tuple[int, ...] = ()  # seed programs lost, rebuilt from their name and lr

    def summary(self) -> str:
        programs, evaluations = self.tables["programs"], self.tables["evaluations"]
        lines = [f"salvaged {len(programs.rows)} programs and "
                 f"{len(evaluations.rows) - self.orphans} evaluations ({self.trained} trained "
                 f"search evaluations) from {self.source} into {self.out}"
                 + (" (with sqlite3 .recover)" if self.method == "recover" else "")]
        lost = [f"{t.unreadable} {name.rstrip('s')} row(s) unreadable"
                for name, t in self.tables.items() if t.unreadable]
        if self.orphans:
            lost.append(f"{self.orphans} evaluation(s) of lost programs left out")
        if self.rebuilt_seeds:
            lost.append("seed program(s) " + ", ".join(f"#{i}" for i in self.rebuilt_seeds)
                        + " rebuilt from their name and lr scale")
        lines.append("lost: " + ", ".join(lost) if lost else "nothing unreadable was found")
        if not self.config:
            lines.append("the run's configuration was lost: the salvaged run can be shown but "
                         "not resumed")
        elif self.lost_seeds:
            lines.append(f"seed program(s) {', '.join(f'#{i}' for i in self.lost_seeds)} lost: "
                         "the salvaged run can be shown but not resumed")
        else:
            lines.append(f"continue it with: lion-search evolve --out {self.out} --resume "
                         "(--budget N to go further)")
        return "\n".join(lines)


def read_table(db: sqlite3.Connection, table: str, columns: tuple[str, ...]) -> TableSalvage:
    """Every readable row of `table` (rowid first), skipping pages that cannot be read: of
    `columns`, those the table has (an older journal lacks the newer ones)."""
    present = table_columns(db, table)
    columns = tuple(c for c in columns if c in present) if present else columns
    last = last_rowid(db, table)
    rows: list[tuple] = []
    unreadable, start = 0, -(2 ** 63)
    while True:
        try:
            for row in rows_from(db, table, columns, start):
                rows.append(row)
                start = row[0] + 1
            break                                   # the scan reached the table's end
        except sqlite3.DatabaseError:
            pass
        # An unreadable page at `start`: read rowid by rowid until a row reads again. Past the
        # table's largest rowid (or GIVE_UP_AFTER rowids past the last row read, when that is
        # unknown) there is nothing more to find.
        start, errors, misses, row = max(start, 0), 0, 0, None
        while row is None and (start <= last if last is not None else misses <= GIVE_UP_AFTER):
            try:
                row = row_at(db, table, columns, start)
            except sqlite3.DatabaseError:
                errors += 1
            misses += 1
            start += 1
        if row is None:
            unreadable += errors if last is not None else 0
            break
        unreadable += errors
        rows.append(row)
    return TableSalvage(rows, unreadable, last, columns)


def _recover_with_cli(journal: Path, scratch: Path) -> Path | None:
    """The sqlite3 shell's `.recover` of `journal` loaded into a scratch database, or None
    when the shell is not installed or fails."""
    shell = shutil.which("sqlite3")
    if shell is None:
        return None
    target = scratch / "recovered.sqlite"
    try:
        dump = subprocess.run([shell, str(journal), ".recover"], capture_output=True,
                              timeout=3600, check=True).stdout
        subprocess.run([shell, str(target)], input=dump, capture_output=True, timeout=3600,
                       check=True)
    except (OSError, subprocess.SubprocessError):
        return None
    return target if target.is_file() else None


def salvage_target(run: Path, out: str | Path | None) -> Path:
    """The run folder a salvage of `run` writes: `out`, by default RUN-salvaged."""
    return Path(out) if out else run.with_name(run.name + "-salvaged")


def salvage(run: str | Path, out: str | Path | None = None, force: bool = False) -> SalvageReport:
    """Copy the readable rows of RUN's journal into a new run folder `out` (default
    RUN-salvaged); the original is left as it is. RunError when nothing can be read."""
    run = Path(run)
    journal = run / JOURNAL
    if not journal.is_file():
        raise RunError(f"{str(run)!r} is not a lion-search run folder (no {JOURNAL})")
    out = salvage_target(run, out)
    if out.resolve() == run.resolve():
        raise RunError("salvage writes a new run folder: give -o a folder other than the run's")
    if out.exists() and any(out.iterdir()) and not force:
        raise RunError(f"run folder {str(out)!r} already exists; give another -o or --force to "
                       "overwrite it")
    with tempfile.TemporaryDirectory(prefix="lion-salvage-") as scratch:
        method = "rows"
        source = open_damaged(journal)
        try:
            tables = table_names(source)
            if tables is None or not set(TABLES) <= tables:
                source.close()
                recovered = _recover_with_cli(journal, Path(scratch))
                source = open_damaged(recovered or journal)
                tables = table_names(source) if recovered else None
                method = "recover"
                if tables is None or not set(TABLES) & tables:
                    raise RunError(
                        f"nothing in {str(journal)!r} can be read: its schema is damaged or it "
                        "is not an SQLite file" + ("" if shutil.which("sqlite3") else
                                                   " (the sqlite3 shell, absent here, can try "
                                                   "`.recover`)"))
            read = {name: (read_table(source, name, cols) if name in tables
                           else TableSalvage([], 0, None, cols))
                    for name, cols in {**TABLES, **LATER_TABLES}.items()}
        finally:
            source.close()
        return _write(run, out, force, method, read, Path(scratch))


def _write(run: Path, out: Path, force: bool, method: str, read: dict[str, TableSalvage],
           scratch: Path) -> SalvageReport:
    meta = {row[1]: row[2] for row in read["meta"].rows}
    program_ids = {row[0] for row in read["programs"].rows}
    seeds = json.loads(meta["seeds"]) if meta.get("seeds") else []
    rebuilt = [row for row in (_rebuild_seed(s) for s in seeds if s["id"] not in program_ids)
               if row is not None]
    programs = sorted(read["programs"].rows + rebuilt)
    program_ids |= {row[0] for row in rebuilt}
    lost_seeds = [s["id"] for s in seeds if s["id"] not in program_ids]
    evaluations = [row for row in read["evaluations"].rows if row[2] in program_ids]
    orphans = len(read["evaluations"].rows) - len(evaluations)
    if not programs:
        raise RunError(f"none of the programs in {str(run / JOURNAL)!r} can be read: there is "
                       "nothing to salvage")
    meta.setdefault("format", FORMAT)
    meta["salvaged_from"] = json.dumps({"run": str(run), "time": time.time(), "method": method,
                                        **{f"{name}_unreadable": t.unreadable
                                           for name, t in read.items()},
                                        "orphan_evaluations": orphans,
                                        "rebuilt_seeds": [row[0] for row in rebuilt]})
    draft = scratch / JOURNAL
    try:
        write_journal(draft, meta, {
            "programs": (TABLES["programs"], [row[1:] for row in programs]),
            "twins": (read["twins"].columns, [row[1:] for row in read["twins"].rows]),
            "evaluations": (read["evaluations"].columns, [row[1:] for row in evaluations])})
    except sqlite3.Error as err:
        raise RunError(f"cannot write the salvaged journal: {err}") from None
    try:
        if out.exists() and force:
            for name in (JOURNAL, f"{JOURNAL}-wal", f"{JOURNAL}-shm"):
                (out / name).unlink(missing_ok=True)
        out.mkdir(parents=True, exist_ok=True)
        shutil.move(str(draft), out / f"{JOURNAL}.new")
        os.replace(out / f"{JOURNAL}.new", out / JOURNAL)
    except OSError as err:
        raise RunError(f"cannot write run folder {str(out)!r}: {err}") from None
    store = RunStore.open(out, verify=True)
    try:
        trained = store.count(EvalKind.SEARCH, cached=False)
    finally:
        store.close()
    return SalvageReport(run, out, method, read, orphans, trained, lost_seeds,
                         "config" in meta, tuple(row[0] for row in rebuilt))


def _rebuild_seed(seed: dict) -> tuple | None:
    """The journal row (rowid first) of a calibrated seed program whose row was lost, rebuilt
    as the search made it (the named seed with its learning rate scaled by its lr_scale), or
    None if that seed is not known here. Its hash and fingerprint are recomputed."""
    from lion_search.analysis.dedup import DedupCache
    from lion_search.language.errors import LionSearchError
    from lion_search.language.lr_scale import scale_lr
    from lion_search.runs.references import load_program

    try:
        program = scale_lr(load_program(seed["name"]), seed["lr_scale"])
    except (LionSearchError, KeyError, TypeError):
        return None
    keys = DedupCache().keys(program)
    return (seed["id"], seed["id"], str(program), *keys, None,
            f"{seed['name']} calibrated: lr x{seed['lr_scale']:g}", "seed", time.time())
