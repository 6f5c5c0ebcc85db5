"""What `lion-search export RUN:ID` writes: a run's program in its simplified form, without its
calibration `lr = c * lr`, named after the run, with the learning rate that reproduces the search's."""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import NamedTuple

from lion_search.language.errors import RunError
from lion_search.language.parser import parse_program
from lion_search.language.program import Program
from lion_search.runs.journal import RunStore
from lion_search.runs.references import program_name, run_best
from lion_search.runs.verdict import export_note
from lion_search.selection.untested import untested_warning_in_run


class ExportForm(NamedTuple):
    """What `lion-search export RUN:ID` writes: the program, named after the run, without its
    calibration `lr = c * lr`; the learning rate that reproduces the search's (c) and why; and
    which form of the program it is."""

    program: Program
    learning_rate: float
    why: str
    form: str
    note: str | None = None    # how it lost to the seed, if it did (`runs.verdict.export_note`)
    untested: str | None = None  # its code no training of the run tested (`selection.untested`)


def export_form(folder: Path, ref: str, raw: bool = False) -> ExportForm:
    """The export of program `ref` ('17' or 'best') of a run: its newest simplified form saved
    by `lion-search simplify`, else its exact simplification (dead code and rewrite rules, no
    training); with `raw`, the program as the search journaled it."""
    from lion_search.language.lr_scale import unscale_lr
    from lion_search.simplify.rules import rewrite

    store = RunStore.open(folder)
    try:
        row = run_best(store) if ref == "best" else store.program(int(ref))
        if row is None:
            raise RunError(f"run {str(folder)!r} has no evaluated program yet")
        simplified = store.simplified(row.id)
        config = store.config
        schedule = config.get("schedule", "warmup_cosine")
        note = export_note(store, row.id)
    finally:
        store.close()
    if raw:
        program, form = parse_program(row.text), f"#{row.id} as the search journaled it"
    elif simplified is not None:
        program, form = parse_program(simplified), f"#{row.id} as `lion-search simplify` saved it"
    else:
        program, form = rewrite(parse_program(row.text))[0], (
            f"#{row.id} without dead code, by exact rewrite rules (`lion-search simplify` also "
            "ablates on the proxy)")
    untested = untested_warning_in_run(config, program)
    program, scale = unscale_lr(program)
    return ExportForm(replace(program, name=program_name(folder, row.id)), scale,
                      f"the peak lr of the search's {schedule} schedule", form, note, untested)
