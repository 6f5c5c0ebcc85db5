"""The run journal's tables, the kinds of its evaluations, its rows, and its schema versions.

The journal's meta row `schema` holds the version of its tables (a journal without one is of
version 1). A journal of an older version is migrated when it is opened (`migrate`, in one
transaction), so runs journaled before a change still read, resume and salvage:

    1 -> 2   evaluations gain `lr_factor`: a promotion's best lr factor, which version 1 kept in
             the `worker` column as 'lr x{factor}' (such rows now read worker 'promotion').
    2 -> 3   evaluations gain `per_seed`: a trained evaluation's score on each of its training
             seeds, as JSON {seed: score} (NULL: not kept, as in every older row).
    3 -> 4   indexes of the evaluations by kind (alone, with cache hit, with fitness), so that
             counts, the best programs and the rows of a kind are read without a scan or a sort,
             and the hall of fame's tables `hall` and `hall_progress`, which runs.hall_of_fame
             keeps up to date as results arrive (an upgraded journal's are filled when its
             hall of fame is next written).
    4 -> 5   the tables `proposals` (each search child's island, whether it is a mutant or its
             parent trained again, and the mutants equivalent to programs already seen that were
             mutated again before it) and `migrations` (programs
             copied from one island to the next); a journal from before has neither (one island,
             nothing re-mutated).
    5 -> 6   an index of the programs by origin and parent (a program's simplified versions,
             the search's children), and the table `proxy_fingerprints`: of each proxy kind
             and fingerprint, the first and the newest evaluation, which a trigger keeps as
             evaluations are inserted, so that the best programs by fingerprint and a
             fingerprint's newest fitness are read without grouping every evaluation (the
             migration fills it from the journal's evaluations).
    6 -> 7   the table `twins`: a fingerprint whose trainings the search files under another
             fingerprint's record (programs that trained to the same loss on the same run,
             `search.instances`), which the trigger of `proxy_fingerprints` follows, so that a
             twin's newest fitness is its record's and the best programs list one of them.
"""
from __future__ import annotations

import json
import math
import sqlite3
from enum import StrEnum
from typing import NamedTuple

FORMAT = "lion-search-run/1"    # the file's format tag (what it is), apart from its version
JOURNAL = "journal.sqlite"
SCHEMA_VERSION = 7


class EvalKind(StrEnum):
    """What an evaluation is (the journal's `kind` column)."""

    SEARCH = "search"                  # a child on the proxy task(s): its fitness
    SEED = "seed"                      # a seed at its calibrated lr
    CALIBRATION = "calibration"        # a seed at one scale of its start-up lr sweep
    REFERENCE = "reference"            # tuned AdamW on one task of a portfolio
    METAVAL = "metaval"                # the best so far on the held-out larger task
    SIMPLIFIED = "simplified"          # a simplified program (`lion-search simplify`)
    PROMOTION_REFERENCE = "promotion-reference"   # tuned AdamW on one promotion task
    PROMOTION = "promotion"            # a promoted program on one task, at its best lr factor
    PROMOTED = "promoted"              # its promoted score over the promotion tasks
    HELD_BACK = "held-back"            # a top program on the held-back seeds, at the end of a run
    SCREENED = "screened"              # a leader's score on the screen tasks, before promotion


PROXY_KINDS = (EvalKind.SEARCH, EvalKind.SEED)   # what a program's proxy fitness is read from


SCHEMA = """
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
    kind TEXT NOT NULL,            -- an EvalKind
    fitness REAL,                  -- NULL stands for the worst fitness (+inf)
    status TEXT NOT NULL,          -- a results.Status: ok | diverged | hurdle | failed
    cached INTEGER NOT NULL,       -- 1: fitness reused from an equivalent program, not trained
    task TEXT NOT NULL,
    seeds TEXT NOT NULL,
    seconds REAL NOT NULL,
    worker TEXT NOT NULL,
    created REAL NOT NULL,
    lr_factor REAL,                -- promotion: the best lr factor (NULL: none trained);
                                   -- search: a reproduction's (NULL: the program's own lr)
    per_seed TEXT                  -- JSON {seed: score} of a trained evaluation (NULL: not kept)
);
CREATE INDEX IF NOT EXISTS evaluations_by_program ON evaluations(program);
CREATE INDEX IF NOT EXISTS programs_by_hash ON programs(hash);
CREATE INDEX IF NOT EXISTS programs_by_fingerprint ON programs(fingerprint);
"""
# Version 4's indexes and the hall of fame's tables (SCHEMA has them; `migrate` adds them).
SCHEMA_4 = (
    "CREATE INDEX IF NOT EXISTS evaluations_by_kind ON evaluations(kind)",
    "CREATE INDEX IF NOT EXISTS evaluations_by_cache_hit ON evaluations(kind, cached)",
    "CREATE INDEX IF NOT EXISTS evaluations_by_fitness ON evaluations(kind, fitness)",
    """CREATE TABLE IF NOT EXISTS hall (  -- the hall of fame: the best program of each cell
    length INTEGER NOT NULL,       -- the cell: IR instructions,
    memory REAL NOT NULL,          -- and memory cost (parameter-sized copies, rounded)
    fitness REAL NOT NULL,
    evaluation INTEGER NOT NULL REFERENCES evaluations(id),
    program INTEGER NOT NULL REFERENCES programs(id),
    kind TEXT NOT NULL,
    found_at INTEGER NOT NULL,     -- the ordinal of the search evaluation (0: another kind)
    PRIMARY KEY (length, memory)
)""",
    """CREATE TABLE IF NOT EXISTS hall_progress (  -- one row: what `hall` counts
    id INTEGER PRIMARY KEY CHECK (id = 1),
    evaluation INTEGER NOT NULL,   -- every evaluation up to this id,
    searched INTEGER NOT NULL      -- of which this many search evaluations
)""")
# Version 5's tables: how children were proposed, and the islands' migrations.
SCHEMA_5 = (
    """CREATE TABLE IF NOT EXISTS proposals (  -- how each search child was proposed
    program INTEGER PRIMARY KEY REFERENCES programs(id),
    island INTEGER NOT NULL,       -- the island (sub-population) it was proposed on
    equivalents INTEGER NOT NULL,  -- mutants equivalent to a program already seen, each
                                   -- mutated again, before this child
    mutant INTEGER NOT NULL        -- 1: a mutant of its parent; 0: its parent trained again
)""",
    """CREATE TABLE IF NOT EXISTS migrations (  -- a program copied to the next island
    id INTEGER PRIMARY KEY,
    program INTEGER NOT NULL REFERENCES programs(id),
    source INTEGER NOT NULL,
    target INTEGER NOT NULL,
    after INTEGER NOT NULL         -- the last evaluation's id when it migrated
)""")
# Version 6's index, and the first and newest evaluation of each proxy kind and fingerprint,
# kept by a trigger (`_to_version_6` fills the table from the evaluations before it).
SCHEMA_6 = (
    "CREATE INDEX IF NOT EXISTS programs_by_origin ON programs(origin, parent)",
    """CREATE TABLE IF NOT EXISTS proxy_fingerprints (  -- see the module (version 6)
    kind TEXT NOT NULL,            -- an EvalKind of PROXY_KINDS
    fingerprint TEXT NOT NULL,
    first INTEGER NOT NULL REFERENCES evaluations(id),
    last INTEGER NOT NULL REFERENCES evaluations(id),
    PRIMARY KEY (kind, fingerprint)
) WITHOUT ROWID""",
    f"""CREATE TRIGGER IF NOT EXISTS proxy_fingerprints_kept AFTER INSERT ON evaluations
WHEN NEW.kind IN ({", ".join(repr(str(kind)) for kind in PROXY_KINDS)}) BEGIN
    INSERT INTO proxy_fingerprints SELECT NEW.kind, fingerprint, NEW.id, NEW.id FROM programs
        WHERE id = NEW.program
    ON CONFLICT (kind, fingerprint) DO UPDATE SET first = MIN(first, excluded.first),
                                                  last = MAX(last, excluded.last);
END""")
# Version 7's twins, and the trigger that files a twin's evaluations under its record.
SCHEMA_7 = (
    """CREATE TABLE IF NOT EXISTS twins (  -- see the module (version 7)
    fingerprint TEXT PRIMARY KEY,
    record TEXT NOT NULL           -- the fingerprint whose record it joined
)""",
    "DROP TRIGGER IF EXISTS proxy_fingerprints_kept",
    f"""CREATE TRIGGER proxy_fingerprints_kept AFTER INSERT ON evaluations
WHEN NEW.kind IN ({", ".join(repr(str(kind)) for kind in PROXY_KINDS)}) BEGIN
    INSERT INTO proxy_fingerprints
        SELECT NEW.kind, COALESCE(t.record, p.fingerprint), NEW.id, NEW.id FROM programs p
        LEFT JOIN twins t ON t.fingerprint = p.fingerprint WHERE p.id = NEW.program
    ON CONFLICT (kind, fingerprint) DO UPDATE SET first = MIN(first, excluded.first),
                                                  last = MAX(last, excluded.last);
END""")
SCHEMA += "".join(f"{statement};\n" for statement in SCHEMA_4 + SCHEMA_5 + SCHEMA_6 + SCHEMA_7)
TABLES = {"meta": ("key", "value"),
          "programs": ("id", "text", "hash", "fingerprint", "parent", "mutation", "origin",
                       "created"),
          "evaluations": ("id", "program", "kind", "fitness", "status", "cached", "task", "seeds",
                          "seconds", "worker", "created", "lr_factor", "per_seed")}
# Tables of later versions, which an older journal lacks: salvage copies them where present.
LATER_TABLES = {"twins": ("fingerprint", "record")}


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
    lr_factor: float | None = None     # a promotion's best lr factor, a reproduction's
    per_seed: str | None = None        # JSON {seed: score} of a trained evaluation (`seed_scores`)

    def seed_scores(self) -> dict[int, float]:
        """The score on each training seed that this evaluation kept (empty if none)."""
        return {int(s): float(v) for s, v in json.loads(self.per_seed or "{}").items()}


def fitness_out(value: float | None) -> float:
    """A fitness as read: NULL is the worst fitness, +inf."""
    return math.inf if value is None else value


def fitness_in(value: float) -> float | None:
    """A fitness as stored: anything not finite is NULL."""
    return value if math.isfinite(value) else None


def evaluation_row(row: tuple) -> EvaluationRow:
    """An EvaluationRow from the columns of `evaluations`, in table order."""
    return EvaluationRow(*row[:3], fitness_out(row[3]), row[4], bool(row[5]), *row[6:])


def _lr_factor(worker: str) -> float | None:
    """The factor in version 1's 'lr x{factor:g}' (None for 'lr xnan': none trained)."""
    try:
        factor = float(worker.removeprefix("lr x"))
    except ValueError:
        return None
    return factor if math.isfinite(factor) else None


def _to_version_2(db: sqlite3.Connection) -> None:
    columns = {row[1] for row in db.execute("PRAGMA table_info(evaluations)")}
    if "lr_factor" not in columns:
        db.execute("ALTER TABLE evaluations ADD COLUMN lr_factor REAL")
    rows = db.execute("SELECT id, worker FROM evaluations WHERE kind = ? AND worker LIKE 'lr x%'",
                      (EvalKind.PROMOTION,)).fetchall()
    db.executemany("UPDATE evaluations SET lr_factor = ?, worker = ? WHERE id = ?",
                   [(_lr_factor(worker), EvalKind.PROMOTION, eid) for eid, worker in rows])


def _to_version_3(db: sqlite3.Connection) -> None:
    columns = {row[1] for row in db.execute("PRAGMA table_info(evaluations)")}
    if "per_seed" not in columns:
        db.execute("ALTER TABLE evaluations ADD COLUMN per_seed TEXT")
    db.execute("CREATE INDEX IF NOT EXISTS programs_by_fingerprint ON programs(fingerprint)")


def _to_version_4(db: sqlite3.Connection) -> None:
    for statement in SCHEMA_4:
        db.execute(statement)


def _to_version_5(db: sqlite3.Connection) -> None:
    for statement in SCHEMA_5:
        db.execute(statement)


def _to_version_6(db: sqlite3.Connection) -> None:
    index, table, trigger = SCHEMA_6
    db.execute(index)
    db.execute(table)
    kinds = ",".join("?" * len(PROXY_KINDS))
    db.execute("INSERT OR REPLACE INTO proxy_fingerprints "
               "SELECT e.kind, p.fingerprint, MIN(e.id), MAX(e.id) "
               "FROM evaluations e JOIN programs p ON p.id = e.program "
               f"WHERE e.kind IN ({kinds}) GROUP BY e.kind, p.fingerprint", PROXY_KINDS)
    db.execute(trigger)


def _to_version_7(db: sqlite3.Connection) -> None:
    for statement in SCHEMA_7:
        db.execute(statement)


# version -> the step that brings it to version + 1
MIGRATIONS = {1: _to_version_2, 2: _to_version_3, 3: _to_version_4, 4: _to_version_5,
              5: _to_version_6, 6: _to_version_7}


def schema_version(db: sqlite3.Connection) -> int:
    """The journal's schema version (1 for a journal from before versions)."""
    row = db.execute("SELECT value FROM meta WHERE key = 'schema'").fetchone()
    return int(row[0]) if row else 1


def migrate(db: sqlite3.Connection) -> None:
    """Bring an older journal's tables to SCHEMA_VERSION in one write transaction (another
    process migrating it at the same time waits, then finds it done)."""
    db.execute("BEGIN IMMEDIATE")
    try:
        version = schema_version(db)
        for step in range(version, SCHEMA_VERSION):
            MIGRATIONS[step](db)
        if version < SCHEMA_VERSION:
            db.execute("INSERT OR REPLACE INTO meta VALUES ('schema', ?)", (str(SCHEMA_VERSION),))
        db.execute("COMMIT")
    except BaseException:
        if db.in_transaction:
            db.execute("ROLLBACK")
        raise
