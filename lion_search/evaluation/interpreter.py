"""The compile-once interpreter: one jitted training loop per (task, size) trains any program.

Compiling a training loop per candidate costs about a second on a CPU, about 100x the cost of
the training itself. So a program is not compiled: it is *encoded* as fixed-size arrays
(opcodes, argument registers, destination registers, constants), the parameters are flattened
into one vector, and one jitted loop interprets any program of up to `length` instructions and
`memory` slots: a `lax.while_loop` over training steps (it ends early when a run diverges or is
cut at the hurdle), a `lax.fori_loop` over the program's instructions, and `lax.switch` over
the ops.

Registers hold parameter-sized vectors; the register file is laid out as
    [w, g, lr, t, rank, fan_in, fan_out, T, memory slots..., constants..., variables...]
and lives in the loop carry, so that memory slots persist between steps and nothing but the
first four inputs is rewritten at each step. Ops that act on each tensor at its shape
(reductions, row_mean, orthogonalize) cut the vector into the tensors with static slices.
Memory slots are held at full size here whatever their shape on each tensor, and every
instruction runs on every entry: a `where` whose condition is static per tensor (`plan`:
rank == 2, min(fan_in, fan_out) >= 128, ...) selects entry by entry what the tensor's plan
takes, so every value the plan keeps is the same; only the storage and the work differ from
`to_optax`'s. One compiled loop serves every program, static branches or not.

A program with evaluation weights is run once more after the last step (g and lr do not reach
them) and the validation loss is measured at them.
"""
from __future__ import annotations

import functools
import math
from typing import Callable, NamedTuple, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from jax.flatten_util import ravel_pytree

from lion_search.evaluation import flips
from lion_search.evaluation.results import hurdle_step
from lion_search.evaluation.traced import jit_kept
from lion_search.language.errors import ProgramError
from lion_search.language.ops import OPS, PER_LEAF_KINDS, Kind, Shape
from lion_search.language.parser import parse_program
from lion_search.language.plan import tensor_facts
from lion_search.language.program import ALL_INPUTS, INPUTS, Program
from lion_search.language.shapes import instruction_shapes
from proxy_tasks.base import Task

# `interp_c` is interp(x, y, a) with a constant a, whose register is followed by one holding
# 1 - a rounded from double precision, as the direct path computes it (in float32, 1 - 0.9999
# is 1.7e-4 off).
OP_NAMES: tuple[str, ...] = tuple(OPS) + ("interp_c",)
OPCODES: dict[str, int] = {name: i for i, name in enumerate(OP_NAMES)}
LENGTH_BUCKETS = (32, 64, 128)
MEMORY_BUCKETS = (4, 8)


class Size(NamedTuple):
    """The fixed sizes one compiled loop serves: instructions and memory slots."""

    length: int
    memory: int

    @property
    def n_constants(self) -> int:
        return 2 * self.length

    @property
    def n_registers(self) -> int:
        return len(ALL_INPUTS) + self.memory + self.n_constants + self.length


class Encoded(NamedTuple):
    """A program as arrays of fixed shape (padded to a Size)."""

    ops: np.ndarray        # int32[length]     opcode of each instruction
    args: np.ndarray       # int32[length, 3]  argument registers
    dst: np.ndarray        # int32[length]     destination register
    n: np.ndarray          # int32[]           instructions in use
    constants: np.ndarray  # float32[n_constants]
    outputs: np.ndarray    # int32[2 + memory]  registers of the update, the new memory and
                           #                    the evaluation weights (w's when there are none)
    evaluates: np.ndarray  # bool[]             whether the program has evaluation weights


def constant_op(ins_op: str, args: tuple) -> str:
    """The interpreter's op for an instruction: interp with a constant weight is interp_c."""
    return "interp_c" if ins_op == "interp" and not isinstance(args[2], str) else ins_op


def constant_kind(op: str, k: int) -> str:
    """How argument k of an instruction of `op` holds a constant: "pair" for interp_c's
    weight (a, then 1 - a), else "value"."""
    return "pair" if op == "interp_c" and k == 2 else "value"


def constant_keys(program: Program) -> dict[tuple[str, float], int]:
    """The constant registers a program needs, in order: ("value", c) takes one register,
    ("pair", a) two (a, then 1 - a); maps each key to its offset in the constants block."""
    keys: dict[tuple[str, float], int] = {}
    offset = 0
    sites = [(constant_op(i.op, i.args), i.args) for i in program.body] + [("", program.outputs)]
    for op, args in sites:
        for k, a in enumerate(args):
            if isinstance(a, str):
                continue
            key = (constant_kind(op, k), a)
            if key not in keys:
                keys[key] = offset
                offset += 2 if key[0] == "pair" else 1
    return keys


def constant_values(keys: dict[tuple[str, float], int]) -> list[tuple[int, float]]:
    """(offset, float32 value) of every constant register, 1 - a computed in double."""
    values = []
    for (kind, a), offset in keys.items():
        values.append((offset, a))
        if kind == "pair":
            values.append((offset + 1, 1.0 - a))
    return values


def size_for(program: Program) -> Size:
    """The smallest Size that holds `program`."""
    slots = len(constant_values(constant_keys(program)))
    for length in LENGTH_BUCKETS:
        if len(program) <= length and slots <= Size(length, 0).n_constants:
            break
    else:
        raise ProgramError(f"program {program.name!r} has {len(program)} instructions; the "
                           f"interpreter runs at most {LENGTH_BUCKETS[-1]}")
    memory = next((m for m in MEMORY_BUCKETS if program.slots <= m), None)
    if memory is None:
        raise ProgramError(f"program {program.name!r} has {program.slots} memory slots; "
                           f"the interpreter runs at most {MEMORY_BUCKETS[-1]}")
    return Size(length, memory)


def encode(program: Program, size: Size) -> Encoded:
    """Lay `program` out as arrays for the interpreter (numpy only: encoding never compiles)."""
    registers = {name: i for i, name in enumerate(ALL_INPUTS + program.memory)}
    constants = constant_keys(program)
    first_constant = len(ALL_INPUTS) + size.memory
    next_variable = first_constant + size.n_constants

    def register(a, kind: str = "value") -> int:
        nonlocal next_variable
        if not isinstance(a, str):
            return first_constant + constants[(kind, a)]
        if a not in registers:
            registers[a] = next_variable
            next_variable += 1
        return registers[a]

    if len(program) > size.length or program.slots > size.memory:
        raise ProgramError(f"program {program.name!r} does not fit interpreter size {size}")
    ops = np.zeros(size.length, np.int32)
    args = np.zeros((size.length, 3), np.int32)
    dst = np.zeros(size.length, np.int32)
    shapes = instruction_shapes(program)
    for i, ins in enumerate(program.body):
        op = constant_op(ins.op, ins.args)
        ops[i] = OPCODES[op] + (len(OP_NAMES) if shapes[i] is Shape.SCALAR else 0)
        args[i, :len(ins.args)] = [register(a, constant_kind(op, k))
                                   for k, a in enumerate(ins.args)]
        dst[i] = register(ins.dst)
    # Padding slots keep their value (zero); without evaluation weights the model is evaluated
    # at w (register 0).
    outputs = np.arange(len(ALL_INPUTS) - 1, len(ALL_INPUTS) + size.memory + 1, dtype=np.int32)
    outputs[-1] = 0
    outputs[:1 + program.slots] = [register(a) for a in program.outputs[:1 + program.slots]]
    if program.has_eval:
        outputs[-1] = register(program.outputs[-1])
    placed = constant_values(constants)
    if len(placed) > size.n_constants:
        raise ProgramError(f"program {program.name!r} has too many distinct constants")
    values = np.zeros(size.n_constants, np.float32)
    values[[offset for offset, _ in placed]] = [value for _, value in placed]
    return Encoded(ops, args, dst, np.int32(len(program)), values, outputs,
                   np.bool_(program.has_eval))


# ------------------------------------------------------------------------------ the ops

def _row(regs: jax.Array, i: jax.Array) -> jax.Array:
    return lax.dynamic_index_in_dim(regs, i, keepdims=False)


class Leaves(NamedTuple):
    """The parameter tensors' shapes, laid end to end in one flat vector (static)."""

    shapes: tuple[tuple[int, ...], ...]

    @property
    def sizes(self) -> list[int]:
        return [math.prod(s) for s in self.shapes]

    @property
    def n(self) -> int:
        return sum(self.sizes)

    def apply(self, fn: Callable, x: jax.Array) -> jax.Array:
        """fn applied to each tensor of the flat vector x at its shape (static slices), each
        result broadcast back to its tensor's shape and laid end to end again."""
        parts, start = [], 0
        for shape, size in zip(self.shapes, self.sizes):
            part = fn(lax.slice_in_dim(x, start, start + size).reshape(shape))
            parts.append(jnp.broadcast_to(part, shape).reshape(-1))
            start += size
        return jnp.concatenate(parts)

    def shape_inputs(self, steps: float, facts: tuple | None = None) -> np.ndarray:
        """The rows of rank, fan_in, fan_out and T (float32[4, n]), as `runtime.shape_inputs`
        defines them, or with the (rank, fan_in, fan_out) of each tensor `facts` gives."""
        rows = facts or [tensor_facts(s) for s in self.shapes]
        per_entry = np.repeat(np.asarray(rows, np.float32), self.sizes, axis=0).T
        return np.concatenate([per_entry, np.full((1, self.n), steps, np.float32)])


def leaves_of(params: object) -> Leaves:
    """The Leaves of a pytree of arrays (or of shape structs)."""
    return Leaves(tuple(tuple(x.shape) for x in jax.tree.leaves(params)))


def _branches(leaves: Leaves) -> list[Callable]:
    """The functions (registers, a, b, c) -> value, indexed by opcode, where a, b, c are the
    argument registers; each reads only the registers its op uses (reading inside the branch
    lets XLA fuse the reads into the op instead of copying every argument row first).

    Opcodes [0, n_ops) compute on whole vectors; opcodes [n_ops, 2 n_ops) are the same ops for
    instructions whose result is one scalar for all parameters (known at encoding from the
    shape rule): they read one entry of each argument and broadcast the result, which saves,
    for example, Adam's `0.999 ** t` from being evaluated once per parameter. Every op is the
    runtime's own function: elementwise ones on the vector, per-tensor ones on each tensor at
    its shape (`Leaves.apply`), global reductions on the whole vector.
    """
    n = leaves.n

    def vector(name: str) -> Callable:
        if name == "interp_c":
            return lambda regs, a, b, c: _row(regs, c + 1) * _row(regs, a) \
                + _row(regs, c) * _row(regs, b)
        op = OPS[name]
        if op.kind in PER_LEAF_KINDS:
            return lambda regs, a, b, c: leaves.apply(op.fn, _row(regs, a))
        if op.kind is Kind.GLOBAL_REDUCE:
            return lambda regs, a, b, c: jnp.full((n,), op.fn([_row(regs, a)]))
        return lambda regs, a, b, c: jnp.broadcast_to(
            op.fn(*(_row(regs, i) for i in (a, b, c)[:op.arity])), (n,))

    def scalar(name: str) -> Callable:
        if name == "interp_c":
            return lambda regs, a, b, c: jnp.full((n,), regs[c + 1, 0] * regs[a, 0]
                                                  + regs[c, 0] * regs[b, 0])
        op = OPS[name]
        if op.kind is not Kind.ELEMENTWISE:
            return vector(name)
        return lambda regs, a, b, c: jnp.broadcast_to(
            op.fn(*(regs[i, 0] for i in (a, b, c)[:op.arity])), (n,))

    return [vector(name) for name in OP_NAMES] + [scalar(name) for name in OP_NAMES]


def _initial_registers(size: Size, program: Encoded, leaves: Leaves, steps: float) -> jax.Array:
    """The register file before the first step: the shape inputs and the constants set, the
    rest zero."""
    first_constant = len(ALL_INPUTS) + size.memory
    registers = jnp.zeros((size.n_registers, leaves.n), jnp.float32)
    registers = registers.at[len(INPUTS):len(ALL_INPUTS)].set(leaves.shape_inputs(steps))
    return registers.at[first_constant:first_constant + size.n_constants].set(
        jnp.broadcast_to(program.constants[:, None], (size.n_constants, leaves.n)))


def _step_inputs(w: jax.Array, g: jax.Array, lr: jax.Array, t: jax.Array) -> jax.Array:
    """The rows of w, g, lr and t."""
    return jnp.stack([w, g, jnp.full_like(w, lr), jnp.full_like(w, t)])


def _run_instructions(program: Encoded, registers: jax.Array, branches: list[Callable]) -> jax.Array:
    """Execute the program's instructions once over the register file."""

    def step(i, regs):
        a, b, c = program.args[i, 0], program.args[i, 1], program.args[i, 2]
        value = lax.switch(program.ops[i], branches, regs, a, b, c)
        return lax.dynamic_update_index_in_dim(regs, value, program.dst[i], 0)

    return lax.fori_loop(0, program.n, step, registers)


# --------------------------------------------------------------------------- the training loop

class Trained(NamedTuple):
    """What one training run returns (as arrays)."""

    val_loss: jax.Array   # float32[]  validation loss after training (inf when stopped)
    losses: jax.Array     # float32[steps] training loss per step (NaN after a stop)
    stopped: jax.Array    # int32[]    0 = ran to the end, 1 = diverged, 2 = cut at the hurdle


def _program_step(program: Encoded, size: Size, branches: list[Callable], regs: jax.Array,
                  inputs: jax.Array) -> tuple[jax.Array, jax.Array]:
    """One step: (the registers with the new memory, the outputs [update, memory..., eval])."""
    regs = _run_instructions(program, lax.dynamic_update_slice(regs, inputs, (0, 0)), branches)
    outputs = regs[program.outputs]
    regs = lax.dynamic_update_slice(regs, outputs[1:1 + size.memory], (len(ALL_INPUTS), 0))
    return regs, outputs


def make_trainer(task: Task, size: Size) -> Callable[..., Trained]:
    """The jitted function train(encoded, seed, lr_scale, hurdle_loss) -> Trained for `task`.

    Each step: g = grad loss(w; batch) (the task's flips applied, `flips`), lr = lr_scale *
    schedule(step), the program runs with t = step + 1 and T = task.steps, and w <- w - update.
    A non-finite loss or weight stops the run (diverged); at `task.steps // 4` the run stops
    when the mean loss of the last 10 steps exceeds `hurdle_loss` (inf disables the hurdle).
    The validation loss is measured at the program's evaluation weights, from one more run of
    the program after the last step.
    """
    params0 = jax.eval_shape(task.init_params, jax.random.PRNGKey(0))
    _, unravel = ravel_pytree(jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype), params0))
    leaves = leaves_of(params0)
    branches = _branches(leaves)
    hurdle_at, window = hurdle_step(task.steps), 10

    def train(program: Encoded, seed: jax.Array, lr_scale: jax.Array,
              hurdle_loss: jax.Array) -> Trained:
        init_key, data_key = jax.random.split(jax.random.PRNGKey(seed))
        model = flips.flat_model_weights(task, params0, seed)
        w0 = model(ravel_pytree(task.init_params(init_key))[0])
        registers = _initial_registers(size, program, leaves, task.steps)

        def running(carry):
            return (carry[4] < task.steps) & (carry[2] == 0)

        def train_step(carry):
            regs, w, _, losses, step = carry
            batch = task.get_batch(data_key, step)
            loss, g = jax.value_and_grad(lambda w: task.loss(unravel(model(w)), batch))(w)
            lr = lr_scale * task.schedule(step)
            regs, outputs = _program_step(program, size, branches, regs,
                                          _step_inputs(w, g, lr, step + 1.0))
            w = w - outputs[0]
            losses = losses.at[step].set(loss)
            diverged = ~jnp.isfinite(loss) | ~jnp.all(jnp.isfinite(w))
            recent = lax.dynamic_slice(losses, (jnp.maximum(step - window + 1, 0),), (window,))
            hopeless = (step == hurdle_at) & (jnp.mean(recent) > hurdle_loss)
            stopped = jnp.where(diverged, 1, jnp.where(hopeless, 2, 0))
            return regs, w, stopped, losses, step + 1

        # A while loop rather than a scan: a run that diverges or is cut stops at once.
        losses = jnp.full(task.steps, jnp.nan, jnp.float32)
        init = (registers, w0, jnp.int32(0), losses, jnp.int32(0))
        regs, w, stopped, losses, _ = lax.while_loop(running, train_step, init)
        # A program may reassign w, so w's register is not the weights after the run.
        _, outputs = _program_step(program, size, branches, regs,
                                   _step_inputs(w, jnp.zeros_like(w), 0.0, task.steps + 1.0))
        val = task.val_loss(unravel(model(jnp.where(program.evaluates, outputs[-1], w))),
                            data_key)
        val = jnp.where((stopped == 0) & jnp.isfinite(val), val, jnp.inf)
        stopped = jnp.where((stopped == 0) & ~jnp.isfinite(val), 1, stopped)
        return Trained(val, losses, stopped)

    return train


def _example_program(size: Size) -> Encoded:
    """An encoded program of `size` (any: a traced loop depends only on the shapes)."""
    return encode(parse_program("def sgd(w, g, lr, t):\n    return lr * g"), size)


def _builtin_key(task: Task, what: str) -> str | None:
    """A key under which `what` traced for `task` may be kept on disk (`traced`): only for a
    built-in task, the very object `get_task` gives for its name and settings (its code is in
    the code version; a user's task, or a Task built by hand, is traced in each process)."""
    from lion_search.evaluation.tasks import get_task, is_user_task
    from lion_search.language.errors import TaskError

    if is_user_task(task.name):
        return None
    try:
        builtin = get_task(task.name, task.schedule_name, task.steps, task.batch_size)
    except TaskError:
        return None
    if builtin is not task:
        return None
    return f"{what} of {task.name} {task.schedule_name} {task.steps} {task.batch_size}"


@functools.lru_cache(maxsize=None)
def compiled_trainer(task: Task, size: Size) -> Callable[..., Trained]:
    """The trainer for (task, size), jitted once per process; for a built-in task traced once
    across processes (`traced.jit_kept`)."""
    key = _builtin_key(task, f"trainer {tuple(size)}")
    if key is None:
        return jax.jit(make_trainer(task, size))
    example = (_example_program(size), np.int32(0), np.float32(1.0), np.float32(np.inf))
    return jit_kept(key, lambda: make_trainer(task, size), example, (Encoded, Trained))


@functools.lru_cache(maxsize=None)
def compiled_batch_trainer(task: Task, size: Size) -> Callable[..., Trained]:
    """The population-batched trainer: the same loop vmapped over a batch of programs."""
    return jax.jit(jax.vmap(make_trainer(task, size), in_axes=(0, None, None, None)))


# ------------------------------------------------------------------------------ probing

PROBE_STEPS_T = 100.0  # the T a probe feeds programs by default (the fingerprint's t runs to 420)


# A probe call's shape: runs padded to a multiple of PROBE_RUNS, steps to PROBE_STEPS.
PROBE_RUNS, PROBE_STEPS = 4, 8


def make_probe(size: Size, shapes: tuple[tuple[int, ...], ...]) -> Callable[..., jax.Array]:
    """probe(program, w, memory, grads, lrs, ts, facts) -> outputs, to be jitted, that runs a
    program for `steps` steps on each of `runs` sets of inputs at once (one call, so one
    dispatch, for all the runs a check needs), as parameters of the given leaf `shapes`
    flattened into one vector: w[runs, entries], memory[runs, size.memory, entries],
    grads[runs, steps, entries], lrs[runs, steps], ts[runs, steps] and the rows of rank, fan_in,
    fan_out and T facts[runs, 4, entries] (`Leaves.shape_inputs`: each tensor's own, or what a
    run declares, and the run's T). Returns the outputs (update, memory, evaluation weights) of
    every step, float32[runs, steps, 2 + memory, entries]; w moves by each update.
    """
    leaves = Leaves(shapes)
    branches = _branches(leaves)
    first_slot = len(ALL_INPUTS)

    def probe(program: Encoded, w, memory, grads, lrs, ts, facts) -> jax.Array:
        registers = _initial_registers(size, program, leaves, PROBE_STEPS_T)
        registers = registers.at[first_slot:first_slot + size.memory].set(memory)
        registers = registers.at[len(INPUTS):len(ALL_INPUTS)].set(facts)

        def step(carry, inputs):
            regs, w = carry
            regs, outputs = _program_step(program, size, branches, regs, _step_inputs(w, *inputs))
            return (regs, w - outputs[0]), outputs

        return lax.scan(step, (registers, w), (grads, lrs, ts))[1]

    # The program is shared by the runs, so its op index stays unbatched: a real switch.
    return jax.vmap(probe, in_axes=(None, 0, 0, 0, 0, 0, 0))


@functools.lru_cache(maxsize=None)
def _kept_probe(size: Size, shapes: tuple[tuple[int, ...], ...], runs: int
                ) -> Callable[..., jax.Array]:
    """`make_probe` at `runs` x PROBE_STEPS, traced once across processes: a few widths serve
    every probe (multiples of PROBE_RUNS up to the fingerprint's runs and the lr check's
    contexts)."""
    entries = sum(math.prod(s) for s in shapes)
    zeros = functools.partial(np.zeros, dtype=np.float32)
    example = (_example_program(size), zeros((runs, entries)), zeros((runs, size.memory, entries)),
               zeros((runs, PROBE_STEPS, entries)), zeros((runs, PROBE_STEPS)),
               zeros((runs, PROBE_STEPS)), zeros((runs, 4, entries)))
    key = f"probe {tuple(size)} {shapes}" + (f" x{runs}" if runs != PROBE_RUNS else "")
    return jit_kept(key, lambda: make_probe(size, shapes), example, (Encoded,))


@functools.lru_cache(maxsize=64)
def _shape_rows(shapes: tuple[tuple[int, ...], ...], facts: tuple, totals: tuple[float, ...]
                ) -> np.ndarray:
    """The shape rows (`Leaves.shape_inputs`) of each run of a probe, [runs, 4, entries]: the
    same few sets serve every probe of a search, so they are built once."""
    return np.stack([Leaves(shapes).shape_inputs(total, declared)
                     for declared, total in zip(facts, totals)])


def probe(program: Program, shapes: tuple[tuple[int, ...], ...], w: np.ndarray,
          memory: np.ndarray, grads: np.ndarray, lrs: np.ndarray, ts: np.ndarray,
          facts: list | None = None, total_steps: Sequence[float] | None = None
          ) -> np.ndarray:
    """`make_probe`'s outputs for steps <= PROBE_STEPS (shaped as it takes them), computed
    at the next multiple of PROBE_RUNS runs x PROBE_STEPS: runs are padded with copies of the
    first, steps with zeros after the last (a step sees only the steps before it, so the
    padding changes no output that is returned). `facts` gives per run the (rank, fan_in,
    fan_out) of each leaf, or None for its own (the default for every run); `total_steps` the
    T each run feeds (default PROBE_STEPS_T for every run)."""
    runs, steps = lrs.shape
    if steps > PROBE_STEPS:
        raise ValueError(f"a probe takes at most {PROBE_STEPS} steps, got {steps}")
    width = PROBE_RUNS * math.ceil(runs / PROBE_RUNS)

    def padded(x: np.ndarray, step_axis: bool) -> np.ndarray:
        x = np.asarray(x, np.float32)
        x = np.concatenate([x, np.broadcast_to(x[:1], (width - runs,) + x.shape[1:])])
        if step_axis:
            x = np.concatenate([x, np.zeros((width, PROBE_STEPS - steps) + x.shape[2:],
                                            np.float32)], axis=1)
        return x

    size = size_for(program)
    rows = _shape_rows(shapes, tuple(facts or [None] * runs),
                       tuple(total_steps or [PROBE_STEPS_T] * runs))
    outputs = _kept_probe(size, shapes, width)(
        encode(program, size), padded(w, False), padded(memory, False), padded(grads, True),
        padded(lrs, True), padded(ts, True), padded(rows, False))
    return np.asarray(outputs)[:runs, :steps]
