"""The lr check's warning for a run's program, without checking again what the search checked.

A search journals a child only when its update grows with lr (`analysis.lr_check`; a child
equivalent to a program evaluated before is one whose equivalent passed), unless it ran with
`allow_lr_free`. So showing a child of such a run needs no second check, which would import JAX
and compile its probe: seconds, most of what `show RUN:ID` took. Runs journaled before the check
existed have no `allow_lr_free` in their configuration; their programs, and every program that
is not a child journaled as it is shown (a seed, a reference, a simplified form), are checked.
"""
from __future__ import annotations

from lion_search.language.program import Program
from lion_search.runs.journal import ProgramRow, RunStore


def lr_warning_in_run(store: RunStore, row: ProgramRow, program: Program) -> str | None:
    """`lr_check.lr_warning` of `program`, which is the run's program `row` or a form of it
    (simplified): None at once for a child shown as its search journaled it, where the search
    checked it."""
    if row.origin == "child" and str(program) == row.text \
            and store.config.get("allow_lr_free") is False:
        return None
    from lion_search.analysis.lr_check import lr_warning

    return lr_warning(program)
