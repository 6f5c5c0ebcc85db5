"""Code no training tested: the per-tensor decisions of a program that tensors of other tasks
make one way and no tensor of the tasks it was trained on did.

A value computed from a tensor's rank, fan_in, fan_out and constants alone is static: one per
tensor (`language.plan`). Where a program compares static values (`fan_in >= 200`) or a `where`
reads a static condition, each tensor takes one side: Muon's `where(rank == 2, ...)`
orthogonalizes the matrices and treats the other tensors otherwise. A search trains its programs
on the tensors of a few tasks, so a side that none of those tensors takes was never trained,
however good the program's scores: BENCHMARKS 19 found a RUN:best that took the raw gradient,
without the learning rate, on tensors with fan_in >= 200, which neither its proxy nor its
promotion task had and the held-out task had.

The decisions: each live `where` with a static condition (its side: the first value or the
second) and each live static comparison (<, <=, >, >=, ==, !=: true or false), by the
program's plan for all the tensors at once. A side is *untested* when a tensor of some known
task (the registered tasks, `evaluation.tasks.task_names`) takes it and no tensor of the tested
tasks does. A comparison read as the condition of a where reported is not reported again.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

from lion_search.language.plan import Mode, static_values
from lion_search.language.program import Program, expression_text, instruction_text
from lion_search.language.shapes import code_of, evaluate_static, tensor_plan

COMPARISONS = frozenset({"lt", "le", "gt", "ge", "eq", "ne"})
SHOWN = 40      # characters of a where's value shown at most
NAMED = 3       # tasks named at most


def has_decision(program: Program) -> bool:
    """Whether `program` has an instruction that may decide per tensor (a where or a
    comparison): only those programs need their tensors' facts."""
    return any(ins.op == "where" or ins.op in COMPARISONS for ins in program.body)


class Untested(NamedTuple):
    """Side `side` of the decision of instruction `index` (a where: its Mode TAKE_A or
    TAKE_B; a comparison: True or False), taken on `tensors` of each task that takes it
    (task name -> count) and on none of the tested tasks."""

    index: int
    side: Mode | bool
    tensors: dict[str, int]

    def describe(self, program: Program) -> str:
        """`where(COND, ...) takes its first value (TEXT) on 5 tensor(s) of text-lm-10x` or
        `fan_in >= 128 is true on ...`."""
        ins = program.body[self.index]
        if ins.op == "where":
            value = expression_text(program, ins.args[1 if self.side == Mode.TAKE_A else 2])
            value = value if len(value) <= SHOWN else value[:SHOWN - 1] + "…"
            which = "first" if self.side == Mode.TAKE_A else "second"
            taken = (f"where({expression_text(program, ins.args[0])}, ...) takes its {which} "
                     f"value ({value})")
        else:
            taken = f"{instruction_text(program, self.index)} is {str(self.side).lower()}"
        tasks = list(self.tensors)
        named = ", ".join(tasks[:NAMED]) + (f" and {len(tasks) - NAMED} more task(s)"
                                            if len(tasks) > NAMED else "")
        return f"{taken} on {sum(self.tensors.values())} tensor(s) of {named}"


def decisions(program: Program, facts: tuple) -> list[dict[int, Mode | bool]]:
    """For each tensor of `facts`: the side each live decision takes there (instruction index
    -> side)."""
    code = code_of(program)
    live = tensor_plan(program, facts).modes
    out = []
    for i, f in enumerate(facts):
        modes, values = static_values(code, f, evaluate_static, [True] * len(program.body))
        sides: dict[int, Mode | bool] = {}
        for j, ins in enumerate(program.body):
            if live[j][i] == Mode.DEAD:
                continue
            if ins.op == "where" and modes[j] != Mode.RUN:
                sides[j] = Mode(modes[j])
            elif ins.op in COMPARISONS and values[j] is not None:
                sides[j] = values[j] != 0
        out.append(sides)
    return out


def condition_of(program: Program, index: int) -> int | None:
    """The instruction whose value where `index` reads as its condition, if any."""
    name = program.body[index].args[0]
    return next((i for i in range(index - 1, -1, -1) if program.body[i].dst == name), None)


def untested_decisions(program: Program, tested: Sequence[str],
                       others: Sequence[str] | None = None) -> list[Untested]:
    """The sides that tensors of `others` (default: every registered task not in `tested`)
    take and no tensor of the `tested` tasks takes, in program order."""
    if not has_decision(program):
        return []
    # (imported here: a task's tensors are built with JAX, which other programs do not need)
    from lion_search.evaluation.tasks import task_names, tensor_facts_of

    others = [t for t in (task_names() if others is None else others) if t not in tested]
    seen = list(dict.fromkeys(f for task in tested for f in tensor_facts_of(task)))
    elsewhere = {task: tensor_facts_of(task) for task in others}
    facts = tuple(dict.fromkeys([*seen, *(f for fs in elsewhere.values() for f in fs)]))
    sides = dict(zip(facts, decisions(program, facts)))
    trained = {(j, side) for f in seen for j, side in sides[f].items()}
    found: dict[tuple[int, Mode | bool], dict[str, int]] = {}
    for task, fs in elsewhere.items():
        for f in fs:
            for key in sides[f].items():
                if key not in trained:
                    counts = found.setdefault(key, {})
                    counts[task] = counts.get(task, 0) + 1
    shown = {condition_of(program, j) for j, _ in found if program.body[j].op == "where"}
    return [Untested(j, side, counts) for (j, side), counts in
            sorted(found.items(), key=lambda item: (item[0][0], int(item[0][1])))
            if j not in shown]


def untested_warning(program: Program, tested: Sequence[str]) -> str | None:
    """One line naming the untested sides of a program trained on the `tested` tasks, or None
    when it has none."""
    untested = untested_decisions(program, tested)
    if not untested:
        return None
    return ("untested code: " + "; ".join(u.describe(program) for u in untested)
            + f", and on no tensor of the tasks it was trained on ({', '.join(tested)})")
