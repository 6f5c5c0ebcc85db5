"""The docstring and program text that head an exported module, whatever its framework.

The first line says what the program is against the seeds (`analysis.retune`): a retune first
of all, as the seed with its changed constants ("adamw with b1 0.9 -> 0.5297"), else the seed
itself, else new structure with its diff to the nearest seed below. Then the memory cost, how to
read the program back, the lr check's warning if any, and the suggested learning rate.
"""
from __future__ import annotations

import textwrap

from lion_search.analysis.retune import Kind, relate
from lion_search.language.program import Program, format_constant
from lion_search.language.shapes import format_cost, memory_cost

DEFAULT_LR_ADVICE = (1e-3, "a starting point: sweep it on your task")
WIDTH = 96


def escaped(text: str) -> str:
    """`text` as the body of a triple-quoted string."""
    return text.replace("\\", "\\\\").replace('"""', r'\"\"\"')


def headline(program: Program) -> str:
    """What the program is: `adamw with b1 0.9 -> 0.5297` (a retune), `lion` (a seed
    itself) or `NAME: new structure (nearest seed adamw, 1 instruction differs)`; a retune or
    seed under another name says its name after."""
    relation = relate(program)
    if relation.kind is Kind.NEW_STRUCTURE:
        return f"{program.name}: {relation.headline}"
    what = relation.seed + (" with " + ", ".join(map(str, relation.changes))
                            if relation.changes else "")
    return what if program.name == relation.seed else f"{what} (the program {program.name})"


def relation_notes(program: Program) -> list[str]:
    """The lines after the first that relate the program to the seeds: the lr prefactor
    taken off, and for new structure its diff to the nearest seed."""
    relation = relate(program)
    lines = []
    if relation.lr_scale != 1.0:
        lines += textwrap.wrap(f"Its leading lr = {format_constant(relation.lr_scale)} * lr "
                               "(the search's lr calibration) is left out of that comparison.",
                               WIDTH)
    if relation.kind is Kind.NEW_STRUCTURE:
        lines.append(f"Its diff to {relation.seed} (both after exact rewriting):")
        lines += ["    " + line for line in relation.diff.splitlines()]
    return lines


def docstring(program: Program, framework: str, usage: list[str], learning_rate: float,
              why: str, warning: str | None, path: str) -> list[str]:
    """The module docstring's lines: what the program is, as `framework`, its memory cost,
    how to read it back, the lr check's `warning`, and the `usage` lines, the last of them
    followed by why `learning_rate` is suggested."""
    first = textwrap.wrap(f"{headline(program)}: an optimizer program from lion-search, as "
                          f"{framework}.", WIDTH)
    notes = relation_notes(program)
    memory = (f"Memory cost: {format_cost(memory_cost(program))} x the parameters' size. "
              f'load_program("{path}") reads PROGRAM back.')
    lines = first + [""] + notes + ([""] if notes else []) + textwrap.wrap(memory, WIDTH)
    if warning is not None:
        lines += [""] + textwrap.wrap(f"WARNING: {warning}", WIDTH)
    lines += [""] + usage[:-1] + textwrap.wrap(
        f"{usage[-1]} {learning_rate:.3g} is {why}.".strip(), WIDTH)
    lines = [escaped(line) for line in lines]
    return ['"""' + lines[0]] + lines[1:] + ['"""']


def program_text(program: Program) -> list[str]:
    """PROGRAM = the program's text (what `load_program` reads back)."""
    return ['PROGRAM = """'] + escaped(str(program)).splitlines() + ['"""']
