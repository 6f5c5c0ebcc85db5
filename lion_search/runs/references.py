"""RUN:ID references: a run's programs by id or as its best, and `load_program`, which reads a seed,
a program file or a program of a run."""
from __future__ import annotations

import math
import re
from pathlib import Path

from lion_search.language.errors import RunError
from lion_search.language.library import read_program
from lion_search.language.parser import parse_program
from lion_search.language.program import Program
from lion_search.runs.journal import (
    JOURNAL,
    EvalKind,
    ProgramRow,
    RunStore,
    resolve_run,
)

_RUN_REF = re.compile(r"^(?P<run>.+):(?P<id>\d+|best)$")


def split_run_ref(text: str) -> tuple[Path, str] | None:
    """('runs/x', '17') for 'runs/x:17' or 'runs/x:best' unless a file is named so (then None,
    as for any other text). runs/x need not be a run folder: reading from it says why not."""
    match = _RUN_REF.match(text)
    if not match or Path(text).exists():
        return None
    return resolve_run(match["run"]), match["id"]


def is_run(text: str) -> bool:
    """Whether `text` names a run folder."""
    return (resolve_run(text) / JOURNAL).is_file()


def run_best(store: RunStore) -> ProgramRow | None:
    """The run's best program: the best by promoted score where one was promoted, else the
    best by proxy fitness (None before any evaluation)."""
    top = store.best(1, EvalKind.PROMOTED) or store.best(1)
    return top[0][0] if top else None


def program_in_run(folder: Path, ref: str) -> tuple[ProgramRow, float]:
    """A program of a run by id, or its best ('best'), with its best proxy fitness."""
    store = RunStore.open(folder)
    try:
        row = run_best(store) if ref == "best" else store.program(int(ref))
        if row is None:
            raise RunError(f"run {str(folder)!r} has no evaluated program yet")
        # its proxy fitness (over the most training seeds), else a sweep's or simplify's
        fitness = store.best_fitness([row.id]) or store.best_fitness(
            [row.id], (EvalKind.CALIBRATION, EvalKind.SIMPLIFIED))
        return row, fitness.get(row.id, math.inf)
    finally:
        store.close()


def program_name(folder: Path, program_id: int) -> str:
    """A Python name for program `program_id` of the run in `folder`: the folder's name and the
    id ('default_digits_232'), prefixed with 'run_' where the name starts otherwise than with a
    letter ('run_2025_11_21_16_40_05_232')."""
    name = re.sub(r"[^0-9A-Za-z]+", "_", Path(folder).resolve().name).strip("_")
    return f"{name}_{program_id}" if name[:1].isalpha() else f"run_{name}_{program_id}".replace(
        "__", "_")


def load_program(name_or_path: str | Path) -> Program:
    """A seed program by name (`"lion"`), the program in a file (`"my_opt.py"`), or a program
    of a run (`"runs/x:17"`, `"runs/x:best"`)."""
    text = str(name_or_path)
    ref = split_run_ref(text)
    if ref:
        row, _ = program_in_run(*ref)
        return parse_program(row.text, source=text)
    return read_program(text)
