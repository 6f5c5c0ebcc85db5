"""The lr check's warning for a run's program, without checking again what is known to pass.

A search journals a child only when its update grows with lr (`analysis.lr_check`; a child
equivalent to a program evaluated before is one whose equivalent passed), unless it ran with
`allow_lr_free`. And a search starts from seeds calibrated by scaling their lr: every seed of the
library passes the check at every scale of the default lr grid (tests/test_lr_checked.py checks
them all). So showing such a child or seed needs no second check, which would import JAX's probe
and compile it: seconds, most of what `show RUN:ID` took. Everything else is checked: a child of
a run with `allow_lr_free` or from before the check (its configuration has no `allow_lr_free`),
a seed from a file or at another scale, a simplified form, a reference.
"""
from __future__ import annotations

from lion_search.evaluation.lr_sweep import DEFAULT_GRID
from lion_search.language.library import read_program, seed_names
from lion_search.language.lr_scale import scale_lr
from lion_search.language.program import Program
from lion_search.runs.journal import ProgramRow, RunStore


def passes_as_journaled(store: RunStore, row: ProgramRow) -> bool:
    """Whether the run's program `row`, as journaled, is known to pass the lr check: a child of
    a search that checked lr, or a library seed at a scale of the default lr grid."""
    if row.origin == "child":
        return store.config.get("allow_lr_free") is False
    if row.origin != "seed":
        return False
    seed = next((s for s in store.value("seeds", []) if s["id"] == row.id), None)
    return (seed is not None and seed["name"] in seed_names() and seed["lr_scale"] in DEFAULT_GRID
            and str(scale_lr(read_program(seed["name"]), seed["lr_scale"])) == row.text)


def lr_warning_in_run(store: RunStore, row: ProgramRow, program: Program) -> str | None:
    """`lr_check.lr_warning` of `program`, which is the run's program `row` or a form of it
    (simplified): None at once where `row` as journaled is shown and known to pass."""
    if str(program) == row.text and passes_as_journaled(store, row):
        return None
    from lion_search.analysis.lr_check import lr_warning

    return lr_warning(program)
