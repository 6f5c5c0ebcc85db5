"""A program's learning-rate scale: `scale_lr` prepends `lr = c * lr` (so every later read of lr
sees c * lr), `unscale_lr` takes it off again and returns c. Calibration (`evaluation.calibrate`)
chooses c; the search can then mutate it like any other constant."""
from __future__ import annotations

from lion_search.language.parser import normalize
from lion_search.language.program import Instr, Program


def scale_lr(program: Program, scale: float) -> Program:
    """The program with its learning rate multiplied by `scale` (merged into a leading
    `lr = c * lr` if the program already starts with one)."""
    body = program.body
    if body and body[0] == Instr("lr", "mul", (body[0].args[0], "lr")) \
            and not isinstance(body[0].args[0], str):
        body = (Instr("lr", "mul", (body[0].args[0] * scale, "lr")),) + body[1:]
    else:
        body = (Instr("lr", "mul", (scale, "lr")),) + body
    return normalize(Program(program.name, program.memory, body, program.outputs, program.doc))


def unscale_lr(program: Program) -> tuple[Program, float]:
    """(the program without a leading `lr = c * lr`, c), or (program, 1.0) without one: the
    inverse of `scale_lr`. The two are the same optimizer when the first is given c times the
    second's learning rate."""
    body = program.body
    if body and body[0] == Instr("lr", "mul", (body[0].args[0], "lr")) \
            and not isinstance(body[0].args[0], str):
        return normalize(Program(program.name, program.memory, body[1:], program.outputs,
                                 program.doc)), float(body[0].args[0])
    return program, 1.0
