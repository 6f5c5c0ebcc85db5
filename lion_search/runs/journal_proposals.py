"""The journal's record of how a search proposed: each child's island and the equivalent mutants
passed over before it (table `proposals`), and the islands' migrations (table `migrations`);
the queries `show`, the report, `bench --rediscovery` and a resumed search read them with
(journal_schema has the tables)."""
from __future__ import annotations

from lion_search.runs.journal import RunStore
from lion_search.runs.journal_schema import EvalKind, fitness_out


def add_proposal(store: RunStore, program: int, island: int, equivalents: int,
                 mutant: bool) -> None:
    """Journal how search child `program` was proposed: on `island`, after `equivalents`
    equivalent mutants were mutated again, as a mutant (else its parent trained again). (A
    child journaled without it reads as island 0, a mutant, none passed over.)"""
    with store.writing():
        store.db.execute("INSERT INTO proposals VALUES (?, ?, ?, ?)",
                         (program, island, equivalents, int(mutant)))


def add_migration(store: RunStore, program: int, source: int, target: int) -> None:
    """Journal that `program` was copied from island `source` to island `target` after the
    last evaluation journaled so far."""
    with store.writing():
        store.db.execute("INSERT INTO migrations (program, source, target, after) "
                         "VALUES (?, ?, ?, ?)",
                         (program, source, target, store.last_evaluation_id()))


def proposed(store: RunStore) -> dict[int, tuple[int, int, bool]]:
    """Each search child's (island, equivalent mutants passed over, whether a mutant), by
    program id (none for a journal from before: island 0, none passed over, mutants)."""
    return {pid: (island, equivalents, bool(mutant)) for pid, island, equivalents, mutant
            in store.db.execute("SELECT program, island, equivalents, mutant FROM proposals")}


def islands(store: RunStore) -> dict[int, int]:
    """Each search child's island, by program id (none for a journal from before islands:
    its children are all on island 0)."""
    return dict(store.db.execute("SELECT program, island FROM proposals").fetchall())


def migrations(store: RunStore, after: int = 0) -> list[tuple[int, int, int, int]]:
    """(program, source, target, after) of each migration at or after evaluation id `after`,
    in journal order."""
    return store.db.execute("SELECT program, source, target, after FROM migrations "
                            "WHERE after >= ? ORDER BY id", (after,)).fetchall()


def island_counts(store: RunStore) -> list[tuple[int, int, int | None, float, int]]:
    """Per island, in order: (island, its children evaluated, the program of its lowest
    search fitness journaled (None if none finite), that fitness, migrants copied in)."""
    rows = store.db.execute(
        "SELECT r.island, COUNT(DISTINCT r.program), e.program, MIN(e.fitness) "
        "FROM proposals r JOIN evaluations e ON e.program = r.program AND e.kind = ? "
        "GROUP BY r.island ORDER BY r.island", (EvalKind.SEARCH,)).fetchall()
    arrived = dict(store.db.execute(
        "SELECT target, COUNT(*) FROM migrations GROUP BY target").fetchall())
    return [(island, children, program if best is not None else None, fitness_out(best),
             arrived.get(island, 0)) for island, children, program, best in rows]


# The first program of each twin's fingerprint (few: each uses programs_by_fingerprint).
TWINS_FIRST = ("SELECT MIN(p.id) AS id FROM twins t CROSS JOIN programs p "
               "ON p.fingerprint = t.fingerprint GROUP BY t.fingerprint")


def proposal_counts(store: RunStore) -> tuple[int, int, int, int]:
    """How the search's mutants fared: (mutants, equivalents, new programs, trained): the
    children proposed by mutation (a parent trained again is no proposal), the equivalent
    mutants mutated again before them, how many were the first program of their fingerprint
    in the journal (a twin's, `journal_twins`, is not: its record's came before), and how many
    were trained."""
    # Counted from the smaller sets, not child by child (each CROSS JOIN is read left to
    # right): the children by index (programs_by_origin) less those trained again, the
    # proposals, the first program of each fingerprint and the trained programs.
    mutant = "p.origin = 'child' AND COALESCE(r.mutant, 1) = 1"
    listed = ("SELECT COUNT(*) FROM ({}) s CROSS JOIN programs p ON p.id = s.id "
              f"LEFT JOIN proposals r ON r.program = p.id WHERE {mutant}")
    row = store.db.execute(
        "SELECT (SELECT COUNT(*) FROM programs WHERE origin = 'child') - "
        "  (SELECT COUNT(*) FROM proposals r CROSS JOIN programs p ON p.id = r.program "
        "   WHERE p.origin = 'child' AND r.mutant = 0), "
        "(SELECT SUM(r.equivalents) FROM proposals r CROSS JOIN programs p ON p.id = r.program "
        f" WHERE {mutant}), "
        f"({listed.format('SELECT MIN(id) AS id FROM programs GROUP BY fingerprint')}) - "
        f"({listed.format(TWINS_FIRST)}), "
        f"({listed.format('SELECT DISTINCT program AS id FROM evaluations WHERE cached = 0')})"
    ).fetchone()
    return tuple(int(v or 0) for v in row)
