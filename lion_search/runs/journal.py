"""The run journal: one SQLite database (WAL mode) per run folder, written as results arrive.

A run folder `runs/NAME/` holds `journal.sqlite` with
    meta         the run config (JSON), format tag, schema version, state, heartbeat
    programs     every program: text, data-flow hash, parent, mutation, origin
    evaluations  every result: kind, fitness, status, task, seeds, wall time, worker, cache hit or
                 trained, a promotion's lr factor
Each result is committed when it arrives, so a run killed at any moment loses nothing that was
evaluated, and the population (the last P evaluated children) can be rebuilt from the journal.

Every SQL query of the package lives in the journal's modules: this one (`RunStore`, whose
named queries the other modules call), journal_schema (the tables, `EvalKind`, the schema
versions and their migrations), journal_sqlite (the guarded connection, and the reads that
salvage a damaged file), journal_proposals (islands, migrations and how mutants fared),
journal_hall (the hall of fame's tables), journal_reproductions (programs trained again at a
nudged lr) and journal_twins (programs that trained alike).
A journal of an older schema version is migrated when it is opened.

A damaged journal is one error line wherever it is read or written (journal_sqlite). Opening a
journal checks its structure (`PRAGMA quick_check`) when it is at most CHECK_LIMIT bytes (about
0.1 s), and always before a resumed search appends to it, so a damaged page is found before a
command shows a partial answer.
"""
from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import time
from pathlib import Path
from typing import Any, Iterator, Sequence

from lion_search.language.errors import RunError
from lion_search.runs.journal_schema import (
    FORMAT,
    JOURNAL,
    PROXY_KINDS,
    SCHEMA,
    SCHEMA_VERSION,
    EvalKind,
    EvaluationRow,
    ProgramRow,
    evaluation_row,
    fitness_in,
    fitness_out,
    migrate,
    schema_version,
)
from lion_search.runs.journal_sqlite import check_journal, connect, damaged, table_names
from lion_search.runs.lock import is_held

CHECK_LIMIT = 64 * 2**20        # journals up to this size are checked whole when opened


class RunStore:
    """Read and append to one run's journal. Writers: the search process only."""

    def __init__(self, folder: Path, connection: sqlite3.Connection):
        self.folder = folder
        self.db = connection
        self.holding = False     # writes wait for `release` (a deterministic search's checkpoints)

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
            return cls(folder, connect(journal))
        except (OSError, sqlite3.Error) as err:
            raise RunError(f"cannot create run folder {str(folder)!r}: {err}") from None

    @classmethod
    def _write_new_journal(cls, path: Path, config: dict[str, Any]) -> None:
        """Write a journal holding the schema and the meta rows of a new run at `path`, then close
        it (closing the last connection folds the WAL back into the file)."""
        path.unlink(missing_ok=True)
        draft = cls(path.parent, connect(path))
        try:
            draft.db.executescript(SCHEMA)
            with draft.db:
                draft._set("format", FORMAT)
                draft._set("schema", str(SCHEMA_VERSION))
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
        store = cls(folder, connect(journal))
        try:
            if verify or (verify is None and size <= CHECK_LIMIT):
                check_journal(store.db, journal)
            tables = table_names(store.db) or set()
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
        try:
            store.upgrade()
        except BaseException:
            store.close()
            raise
        return store

    def upgrade(self) -> None:
        """Migrate a journal of an older schema version (journal_schema.MIGRATIONS); refuse one
        written by a newer lion-search."""
        journal = self.folder / JOURNAL
        version = schema_version(self.db)
        if version > SCHEMA_VERSION:
            raise RunError(f"{str(journal)!r} was written by a newer lion-search (journal schema "
                           f"{version}; this one reads up to {SCHEMA_VERSION}): upgrade "
                           "lion-search to read it")
        if version < SCHEMA_VERSION:
            try:
                migrate(self.db)
            except RunError as err:
                raise RunError(f"{str(journal)!r} has journal schema {version} and is upgraded "
                               f"to {SCHEMA_VERSION} when opened, which failed: {err}") from None

    def close(self) -> None:
        """Close the journal (writes still held are dropped: see `hold`)."""
        self.db.close()

    # ------------------------------------------------------------------ held transactions

    def hold(self) -> None:
        """Hold what is written from now on in one transaction until `release`: other readers,
        and the journal after a crash, see none of it before. A deterministic search holds its
        writes between checkpoints, so that a killed run resumes from one."""
        if not self.holding:
            self.db.execute("BEGIN IMMEDIATE")
            self.holding = True

    def release(self, keep: bool = True) -> None:
        """End a `hold`: commit what was written (`keep`), or roll it back."""
        if self.holding:
            self.holding = False
            if keep:
                self.db.commit()
            else:
                self.db.rollback()

    @contextlib.contextmanager
    def writing(self, begin: str | None = None) -> Iterator[None]:
        """The context of one write, or with `begin` (a BEGIN statement) of one transaction:
        committed at its end, unless writes are held (then it is part of what is held)."""
        if self.holding:
            yield
            return
        with self.db:
            if begin:
                self.db.execute(begin)
            yield

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
        with self.writing():
            self._set("config", json.dumps(config, sort_keys=True))

    def set_state(self, state: str) -> None:
        """running | finished | interrupted; with the writer's pid and a heartbeat time."""
        with self.writing():
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
        with self.writing():
            self._set(key, json.dumps(value))

    def value(self, key: str, default: Any = None) -> Any:
        raw = self._get(key)
        return default if raw is None else json.loads(raw)

    # ------------------------------------------------------------------------- writing

    def add_program(self, text: str, keys: tuple[str, str], parent: int | None, mutation: str,
                    origin: str) -> int:
        """Journal a program with its (data-flow hash, fingerprint); returns its id."""
        with self.writing():
            cursor = self.db.execute(
                "INSERT INTO programs (text, hash, fingerprint, parent, mutation, origin, created) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                (text, *keys, parent, mutation, origin, time.time()))
        return int(cursor.lastrowid)

    def add_evaluation(self, program: int, *, kind: EvalKind, fitness: float, status: str,
                       task: str, seeds: Sequence[int], seconds: float, worker: str,
                       cached: bool = False, lr_factor: float | None = None,
                       per_seed: dict[int, float] | None = None) -> int:
        """Journal one result of `program`, committed at once; returns its id. `cached`: its
        fitness was reused from an equivalent program, not trained; `lr_factor`: a promotion's
        best lr factor, or the factor a search evaluation trained at (a reproduction's);
        `per_seed`: its score on each seed it trained on."""
        with self.writing():
            cursor = self.db.execute(
                "INSERT INTO evaluations (program, kind, fitness, status, cached, task, seeds, "
                "seconds, worker, created, lr_factor, per_seed) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (program, kind, fitness_in(fitness), status, int(cached), task,
                 json.dumps(list(seeds)), seconds, worker, time.time(), lr_factor,
                 None if per_seed is None else json.dumps(
                     {str(s): v for s, v in per_seed.items()})))
            self._set("heartbeat", repr(time.time()))
        return int(cursor.lastrowid)

    # ------------------------------------------------------------------------- reading

    def program(self, program_id: int) -> ProgramRow:
        row = self.db.execute("SELECT * FROM programs WHERE id = ?", (program_id,)).fetchone()
        if row is None:
            raise RunError(f"run {str(self.folder)!r} has no program {program_id}")
        return ProgramRow(*row)

    def evaluations(self, kind: EvalKind = EvalKind.SEARCH, last: int | None = None
                    ) -> list[EvaluationRow]:
        """Evaluations of one kind in journal order (only the `last` ones if given)."""
        if last:
            rows = self.db.execute("SELECT * FROM evaluations WHERE kind = ? ORDER BY id DESC "
                                   "LIMIT ?", (kind, last)).fetchall()[::-1]
        else:
            rows = self.db.execute("SELECT * FROM evaluations WHERE kind = ? ORDER BY id",
                                   (kind,)).fetchall()
        return [evaluation_row(r) for r in rows]

    def count(self, kind: EvalKind = EvalKind.SEARCH, cached: bool | None = None,
              after: int = 0, upto: int | None = None) -> int:
        """How many evaluations of `kind` (trained only, cache hits only, or all), of those
        with ids in (after, upto] (default: all)."""
        query = "SELECT COUNT(*) FROM evaluations WHERE kind = ? AND id > ?"
        params: tuple = (kind, after)
        if cached is not None:
            query += " AND cached = ?"
            params += (int(cached),)
        if upto is not None:
            query += " AND id <= ?"
            params += (upto,)
        return int(self.db.execute(query, params).fetchone()[0])

    def best(self, k: int = 1, kind: EvalKind = EvalKind.SEARCH
             ) -> list[tuple[ProgramRow, EvaluationRow]]:
        """The k best distinct programs with their evaluation. Of a proxy kind (SEARCH, SEED):
        distinct by fingerprint (twins, `journal_twins`, as one), each the first program found of
        its fingerprint with the fitness of the newest evaluation (a program's score over more
        training seeds replaces its earlier ones, `search.instances`); of another kind:
        distinct by data-flow hash, each with its best evaluation."""
        if kind in PROXY_KINDS:   # each fingerprint's first and newest: proxy_fingerprints
            rows = self.db.execute(
                "SELECT p.*, e.*, l.fitness FROM proxy_fingerprints g "
                "JOIN evaluations e ON e.id = g.first JOIN programs p ON p.id = e.program "
                "JOIN evaluations l ON l.id = g.last WHERE g.kind = ? AND l.fitness IS NOT NULL "
                "ORDER BY l.fitness, g.first LIMIT ?", (kind, k)).fetchall()
            return [(ProgramRow(*row[:8]), evaluation_row(row[8:-1])._replace(fitness=row[-1]))
                    for row in rows]
        rows = self.db.execute(
            "SELECT p.*, e.* FROM evaluations e JOIN programs p ON p.id = e.program "
            "WHERE e.kind = ? AND e.fitness IS NOT NULL ORDER BY e.fitness, e.id", (kind,))
        out, seen = [], set()
        for row in rows:
            program = ProgramRow(*row[:8])
            if program.hash in seen:
                continue
            seen.add(program.hash)
            out.append((program, evaluation_row(row[8:])))
            if len(out) == k:
                break
        return out

    def best_fitness(self, ids: list[int],
                     kinds: tuple[EvalKind, ...] = PROXY_KINDS) -> dict[int, float]:
        """Each program's fitness among its evaluations of `kinds` (inf when it only failed;
        programs never evaluated are left out): of the proxy kinds, the newest evaluation of
        any program of its fingerprint, or of the record its twins joined (its score over the
        most training seeds); else its best."""
        marks, kind_marks = ",".join("?" * len(ids)), ",".join("?" * len(kinds))
        if set(kinds) <= set(PROXY_KINDS):
            rows = self.db.execute(   # each fingerprint's newest: proxy_fingerprints
                # (programs first: CROSS JOIN keeps the order, a lookup of each one asked)
                "WITH last AS (SELECT p.id AS id, MAX(g.last) AS eid FROM programs p "
                "              LEFT JOIN twins t ON t.fingerprint = p.fingerprint "
                "              CROSS JOIN proxy_fingerprints g "
                "                   ON g.fingerprint = COALESCE(t.record, p.fingerprint) "
                f"             WHERE p.id IN ({marks}) AND g.kind IN ({kind_marks}) "
                "              GROUP BY p.id) "
                "SELECT last.id, e.fitness FROM last JOIN evaluations e ON e.id = last.eid",
                (*ids, *kinds)).fetchall()
        else:
            rows = self.db.execute(
                f"SELECT program, MIN(fitness) FROM evaluations WHERE kind IN ({kind_marks}) "
                f"AND program IN ({marks}) GROUP BY program", (*kinds, *ids)).fetchall()
        return {pid: fitness_out(f) for pid, f in rows}

    def evaluations_of(self, program_id: int, kind: EvalKind) -> list[EvaluationRow]:
        """The evaluations of one program of one kind, in journal order."""
        return [evaluation_row(r) for r in self.db.execute(
            "SELECT * FROM evaluations WHERE program = ? AND kind = ? ORDER BY id",
            (program_id, kind))]

    def pending(self) -> list[ProgramRow]:
        """Children journaled but never evaluated (in flight when the run stopped)."""
        rows = self.db.execute(
            "SELECT * FROM programs p WHERE origin = 'child' AND NOT EXISTS "
            "(SELECT 1 FROM evaluations e WHERE e.program = p.id) ORDER BY id").fetchall()
        return [ProgramRow(*r) for r in rows]

    def programs(self) -> Iterator[ProgramRow]:
        for row in self.db.execute("SELECT * FROM programs ORDER BY id"):
            yield ProgramRow(*row)

    def program_keys(self) -> list[tuple[int, str, str]]:
        """Every program's (id, data-flow hash, fingerprint), in journal order: what the dedup
        cache needs of a journal, without reading the program texts."""
        return self.db.execute("SELECT id, hash, fingerprint FROM programs ORDER BY id").fetchall()

    def ancestors(self, program_id: int) -> list[ProgramRow]:
        """The program and its ancestors, each program's parent after it, up to the root (a
        program without a parent), in one query; empty for an unknown id. A journal whose
        parents loop gives the loop's programs again (at most as many rows as programs)."""
        return [ProgramRow(*row[1:]) for row in self.db.execute(
            "WITH RECURSIVE chain(depth, id) AS (SELECT 0, ? UNION ALL "
            "  SELECT chain.depth + 1, p.parent FROM chain JOIN programs p ON p.id = chain.id "
            "  WHERE p.parent IS NOT NULL LIMIT (SELECT COUNT(*) + 1 FROM programs)) "
            "SELECT chain.depth, p.* FROM chain JOIN programs p ON p.id = chain.id "
            "ORDER BY chain.depth", (program_id,))]

    def simplified(self, program_id: int) -> str | None:
        """The text of the newest simplified version of a program (origin 'simplified', saved
        by `lion-search simplify`), if any."""
        row = self.db.execute("SELECT text FROM programs WHERE origin = 'simplified' AND "
                              "parent = ? ORDER BY id DESC LIMIT 1", (program_id,)).fetchone()
        return row[0] if row else None

    def last_evaluation_id(self) -> int:
        """The id of the newest evaluation (0 before the first)."""
        return int(self.db.execute("SELECT MAX(id) FROM evaluations").fetchone()[0] or 0)

    def last_program_id(self) -> int:
        """The id of the newest program (0 before the first)."""
        return int(self.db.execute("SELECT MAX(id) FROM programs").fetchone()[0] or 0)

    def time_span(self, kind: EvalKind, cached: bool) -> tuple[float, float] | None:
        """(first, last) journal time of the evaluations of `kind` that were (not) cache hits;
        None if there are none."""
        # The first and the last by id (evaluations_by_cache_hit), in the order journaled.
        first, last = (self.db.execute(
            "SELECT created FROM evaluations WHERE kind = ? AND cached = ? "
            f"ORDER BY id {order} LIMIT 1", (kind, int(cached))).fetchone()
            for order in ("ASC", "DESC"))
        return None if first is None else (first[0], last[0])

    def positions(self, ids: Sequence[int], kind: EvalKind, after: int = 0,
                  upto: int | None = None) -> dict[int, int]:
        """Each evaluation of `ids` (of `kind`, with an id in (after, upto]) and its 1-based
        position among those evaluations of `kind`, in journal order."""
        if not ids:
            return {}
        marks = ",".join("?" * len(ids))
        upto = self.last_evaluation_id() if upto is None else upto
        asked = self.db.execute(
            f"SELECT id FROM evaluations WHERE kind = ? AND id > ? AND id <= ? AND id IN ({marks}) "
            "ORDER BY id", (kind, after, upto, *ids)).fetchall()
        # Counted from one asked id to the next (evaluations_by_kind): up to the last one asked,
        # not through every evaluation of the kind.
        out, position, previous = {}, 0, after
        for (evaluation,) in asked:
            position += self.count(kind, after=previous, upto=evaluation)
            out[evaluation], previous = position, evaluation
        return out

    def best_by_text(self, kinds: Sequence[EvalKind], after: int, upto: int
                     ) -> list[tuple[str, float, int, int, str]]:
        """Among the evaluations of `kinds` with a finite fitness and an id in (after, upto],
        the best of each distinct program text (lowest fitness, earliest on ties): (text,
        fitness, evaluation id, program id, kind)."""
        marks = ",".join("?" * len(kinds))
        return self.db.execute(
            "SELECT text, fitness, eid, program, kind FROM ("
            "  SELECT p.text AS text, e.fitness AS fitness, e.id AS eid, e.program AS program,"
            "         e.kind AS kind, ROW_NUMBER() OVER (PARTITION BY p.text"
            "                                           ORDER BY e.fitness, e.id) AS rank"
            "  FROM evaluations e JOIN programs p ON p.id = e.program"
            f"  WHERE e.id > ? AND e.id <= ? AND e.kind IN ({marks})"
            "    AND e.fitness IS NOT NULL)"
            " WHERE rank = 1", (after, upto, *kinds)).fetchall()

    def cache_hits(self, hashes: Sequence[str]) -> dict[str, int]:
        """How many cache hits (evaluations of any kind) each of these data-flow hashes had
        (those with none are left out)."""
        marks = ",".join("?" * len(hashes))
        return dict(self.db.execute(
            "SELECT p.hash, COUNT(*) FROM programs p JOIN evaluations e ON e.program = p.id "
            f"WHERE p.hash IN ({marks}) AND e.cached = 1 GROUP BY p.hash", tuple(hashes)
        ).fetchall())


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
