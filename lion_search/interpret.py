"""The compile-once interpreter: one jitted training loop per (task, size) trains any program.

Compiling a training loop per candidate costs about a second on a CPU, about 100x the cost of
the training itself. So a program is not compiled: it is *encoded* as fixed-size arrays
(opcodes, argument registers, destination registers, constants), the parameters are flattened
into one vector, and one jitted loop interprets any program of up to `length` instructions and
`memory` slots: a `lax.while_loop` over training steps (it ends early when a run diverges or is
cut at the hurdle), a `lax.fori_loop` over the program's instructions, and `lax.switch` over
the ops.

Registers hold parameter-sized vectors; the register file is laid out as
    [w, g, lr, t, memory slots..., constants..., variables...]
and lives in the loop carry, so that memory slots persist between steps and nothing but the
four inputs is rewritten at each step.
"""
from __future__ import annotations

import functools
import math
from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from jax.flatten_util import ravel_pytree

from lion_search.errors import ProgramError
from lion_search.language import INPUT_SHAPES, INPUTS, Program
from lion_search.ops import OPS, Kind, Shape
from proxy_tasks.base import Task

OP_NAMES: tuple[str, ...] = tuple(OPS)
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
        return len(INPUTS) + self.memory + self.n_constants + self.length


class Encoded(NamedTuple):
    """A program as arrays of fixed shape (padded to a Size)."""

    ops: np.ndarray        # int32[length]     opcode of each instruction
    args: np.ndarray       # int32[length, 3]  argument registers
    dst: np.ndarray        # int32[length]     destination register
    n: np.ndarray          # int32[]           instructions in use
    constants: np.ndarray  # float32[n_constants]
    outputs: np.ndarray    # int32[1 + memory]  registers of the update and the new memory


def size_for(program: Program) -> Size:
    """The smallest Size that holds `program`."""
    constants = {a for i in program.body for a in i.args if not isinstance(a, str)}
    constants |= {a for a in program.outputs if not isinstance(a, str)}
    for length in LENGTH_BUCKETS:
        if len(program) <= length and len(constants) <= 2 * length:
            break
    else:
        raise ProgramError(f"program {program.name!r} has {len(program)} instructions; the "
                           f"interpreter runs at most {LENGTH_BUCKETS[-1]}")
    memory = next((m for m in MEMORY_BUCKETS if program.memory_cost <= m), None)
    if memory is None:
        raise ProgramError(f"program {program.name!r} has {program.memory_cost} memory slots; "
                           f"the interpreter runs at most {MEMORY_BUCKETS[-1]}")
    return Size(length, memory)


def instruction_shapes(program: Program) -> list[Shape]:
    """The shape of each instruction's result, by the op table's shape rule."""
    current = dict(INPUT_SHAPES) | {m: Shape.TENSOR for m in program.memory}
    shapes = []
    for ins in program.body:
        args = [current.get(a, Shape.TENSOR) if isinstance(a, str) else Shape.SCALAR
                for a in ins.args]
        current[ins.dst] = OPS[ins.op].shape(args)
        shapes.append(current[ins.dst])
    return shapes


def encode(program: Program, size: Size) -> Encoded:
    """Lay `program` out as arrays for the interpreter (numpy only: encoding never compiles)."""
    registers = {name: i for i, name in enumerate(INPUTS + program.memory)}
    constants: dict[float, int] = {}
    first_constant = len(INPUTS) + size.memory
    next_variable = first_constant + size.n_constants

    def register(a) -> int:
        nonlocal next_variable
        if not isinstance(a, str):
            if a not in constants:
                constants[a] = first_constant + len(constants)
            return constants[a]
        if a not in registers:
            registers[a] = next_variable
            next_variable += 1
        return registers[a]

    if len(program) > size.length or program.memory_cost > size.memory:
        raise ProgramError(f"program {program.name!r} does not fit interpreter size {size}")
    ops = np.zeros(size.length, np.int32)
    args = np.zeros((size.length, 3), np.int32)
    dst = np.zeros(size.length, np.int32)
    shapes = instruction_shapes(program)
    for i, ins in enumerate(program.body):
        ops[i] = OPCODES[ins.op] + (len(OP_NAMES) if shapes[i] is Shape.SCALAR else 0)
        args[i, :len(ins.args)] = [register(a) for a in ins.args]
        dst[i] = register(ins.dst)
    outputs = np.arange(len(INPUTS) - 1, len(INPUTS) + size.memory, dtype=np.int32)
    outputs[:len(program.outputs)] = [register(a) for a in program.outputs]
    values = np.zeros(size.n_constants, np.float32)
    values[[r - first_constant for r in constants.values()]] = list(constants)
    if len(constants) > size.n_constants:
        raise ProgramError(f"program {program.name!r} has too many distinct constants")
    return Encoded(ops, args, dst, np.int32(len(program)), values, outputs)


# ------------------------------------------------------------------------------ the ops

def _row(regs: jax.Array, i: jax.Array) -> jax.Array:
    return lax.dynamic_index_in_dim(regs, i, keepdims=False)


def _branches(segments: jax.Array, n_segments: int) -> list[Callable]:
    """The functions (registers, a, b, c) -> value, indexed by opcode, where a, b, c are the
    argument registers; each reads only the registers its op uses (reading inside the branch
    lets XLA fuse the reads into the op instead of copying every argument row first).

    Opcodes [0, n_ops) compute on whole vectors; opcodes [n_ops, 2 n_ops) are the same ops for
    instructions whose result is one scalar for all parameters (known at encoding from the
    shape rule): they read one entry of each argument and broadcast the result, which saves,
    for example, Adam's `0.999 ** t` from being evaluated once per parameter. Elementwise ops
    are the runtime's own functions. Per-tensor reductions sum each tensor's entries with a
    one-hot matrix product (the tensors are contiguous segments of the vector) and broadcast
    the result back.
    """
    onehot = jax.nn.one_hot(segments, n_segments, dtype=jnp.float32).T   # [tensors, entries]
    counts = onehot.sum(axis=1)

    def per_tensor(x, post):
        return post(onehot @ x, counts) @ onehot

    tensor = {"mean": lambda x: per_tensor(x, lambda s, n: s / n),
              "rms": lambda x: per_tensor(x * x, lambda s, n: jnp.sqrt(s / n)),
              "norm": lambda x: per_tensor(x * x, lambda s, n: jnp.sqrt(s))}
    total = {"global_mean": lambda x: jnp.full_like(x, jnp.mean(x)),
             "global_rms": lambda x: jnp.full_like(x, jnp.sqrt(jnp.mean(x * x))),
             "global_norm": lambda x: jnp.full_like(x, jnp.sqrt(jnp.sum(x * x)))}
    n = segments.shape[0]

    def vector(name: str) -> Callable:
        op = OPS[name]
        if op.kind is Kind.TENSOR_REDUCE:
            return lambda regs, a, b, c: tensor[name](_row(regs, a))
        if op.kind is Kind.GLOBAL_REDUCE:
            return lambda regs, a, b, c: total[name](_row(regs, a))
        return lambda regs, a, b, c: jnp.broadcast_to(
            op.fn(*(_row(regs, i) for i in (a, b, c)[:op.arity])), (n,))

    def scalar(name: str) -> Callable:
        op = OPS[name]
        if op.kind is not Kind.ELEMENTWISE:
            return vector(name)
        return lambda regs, a, b, c: jnp.broadcast_to(
            op.fn(*(regs[i, 0] for i in (a, b, c)[:op.arity])), (n,))

    return [vector(name) for name in OP_NAMES] + [scalar(name) for name in OP_NAMES]


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


def make_trainer(task: Task, size: Size) -> Callable[..., Trained]:
    """The jitted function train(encoded, seed, lr_scale, hurdle_loss) -> Trained for `task`.

    Each step: g = grad loss(w; batch), lr = lr_scale * schedule(step), the program runs with
    t = step + 1, and w <- w - update. A non-finite loss or weight stops the run (diverged);
    at `task.steps // 4` the run stops when the mean loss of the last 10 steps exceeds
    `hurdle_loss` (inf disables the hurdle).
    """
    params0 = jax.eval_shape(task.init_params, jax.random.PRNGKey(0))
    _, unravel = ravel_pytree(jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype), params0))
    leaves = jax.tree.leaves(params0)
    segments = jnp.asarray(np.repeat(np.arange(len(leaves)), [math.prod(x.shape) for x in leaves]))
    branches = _branches(segments, len(leaves))
    n_inputs, hurdle_step, window = len(INPUTS), max(task.steps // 4, 1), 10

    def train(program: Encoded, seed: jax.Array, lr_scale: jax.Array,
              hurdle_loss: jax.Array) -> Trained:
        init_key, data_key = jax.random.split(jax.random.PRNGKey(seed))
        w0, _ = ravel_pytree(task.init_params(init_key))
        first_constant = n_inputs + size.memory
        registers = jnp.zeros((size.n_registers, w0.size), jnp.float32)
        registers = registers.at[first_constant:first_constant + size.n_constants].set(
            jnp.broadcast_to(program.constants[:, None], (size.n_constants, w0.size)))

        def running(carry):
            return (carry[4] < task.steps) & (carry[2] == 0)

        def train_step(carry):
            regs, w, _, losses, step = carry
            loss, grads = jax.value_and_grad(task.loss)(unravel(w), task.get_batch(data_key, step))
            g, _ = ravel_pytree(grads)
            lr = lr_scale * task.schedule(step)
            inputs = jnp.stack([w, g, jnp.full_like(w, lr), jnp.full_like(w, step + 1.0)])
            regs = _run_instructions(program, lax.dynamic_update_slice(regs, inputs, (0, 0)),
                                     branches)
            outputs = regs[program.outputs]
            regs = lax.dynamic_update_slice(regs, outputs[1:], (n_inputs, 0))
            w = w - outputs[0]
            losses = losses.at[step].set(loss)
            diverged = ~jnp.isfinite(loss) | ~jnp.all(jnp.isfinite(w))
            recent = lax.dynamic_slice(losses, (jnp.maximum(step - window + 1, 0),), (window,))
            hopeless = (step == hurdle_step) & (jnp.mean(recent) > hurdle_loss)
            stopped = jnp.where(diverged, 1, jnp.where(hopeless, 2, 0))
            return regs, w, stopped, losses, step + 1

        # A while loop rather than a scan: a run that diverges or is cut stops at once.
        losses = jnp.full(task.steps, jnp.nan, jnp.float32)
        init = (registers, w0, jnp.int32(0), losses, jnp.int32(0))
        _, w, stopped, losses, _ = lax.while_loop(running, train_step, init)
        val = task.val_loss(unravel(w))
        val = jnp.where((stopped == 0) & jnp.isfinite(val), val, jnp.inf)
        stopped = jnp.where((stopped == 0) & ~jnp.isfinite(val), 1, stopped)
        return Trained(val, losses, stopped)

    return train


@functools.lru_cache(maxsize=None)
def compiled_trainer(task: Task, size: Size) -> Callable[..., Trained]:
    """The trainer for (task, size), jitted once per process."""
    return jax.jit(make_trainer(task, size))


@functools.lru_cache(maxsize=None)
def compiled_batch_trainer(task: Task, size: Size) -> Callable[..., Trained]:
    """The population-batched trainer: the same loop vmapped over a batch of programs."""
    return jax.jit(jax.vmap(make_trainer(task, size), in_axes=(0, None, None, None)))


# ------------------------------------------------------------------------------ probing

@functools.lru_cache(maxsize=None)
def compiled_probe(size: Size, shapes: tuple[tuple[int, ...], ...]) -> Callable[..., jax.Array]:
    """A jitted probe(program, w, memory, grads, lrs, ts) -> outputs that runs a program for
    len(ts) steps on given inputs, as parameters of the given leaf `shapes` flattened into one
    vector: w[entries], memory[size.memory, entries], grads[steps, entries], lrs[steps],
    ts[steps]. Returns the outputs (update, memory) of every step, float32[steps, 1 + memory,
    entries]; w moves by each update. The dedup fingerprint runs on it: one compile per size.
    """
    sizes = [math.prod(s) for s in shapes]
    branches = _branches(jnp.asarray(np.repeat(np.arange(len(sizes)), sizes)), len(sizes))
    first_constant = len(INPUTS) + size.memory

    def probe(program: Encoded, w, memory, grads, lrs, ts) -> jax.Array:
        registers = jnp.zeros((size.n_registers, w.size), jnp.float32)
        registers = registers.at[len(INPUTS):first_constant].set(memory)
        registers = registers.at[first_constant:first_constant + size.n_constants].set(
            jnp.broadcast_to(program.constants[:, None], (size.n_constants, w.size)))

        def step(carry, inputs):
            regs, w = carry
            g, lr, t = inputs
            regs = lax.dynamic_update_slice(
                regs, jnp.stack([w, g, jnp.full_like(w, lr), jnp.full_like(w, t)]), (0, 0))
            regs = _run_instructions(program, regs, branches)
            outputs = regs[program.outputs]
            regs = lax.dynamic_update_slice(regs, outputs[1:], (len(INPUTS), 0))
            return (regs, w - outputs[0]), outputs

        return lax.scan(step, (registers, w), (grads, lrs, ts))[1]

    return jax.jit(probe)
