"""The multi-program trainer: one jitted call trains P programs at once, written for accelerators.

The interpreter (`interpret.make_trainer`) trains one program with a `while_loop` over steps that
ends when the run diverges, a `fori_loop` over the program's instructions and a `lax.switch`
over the ops. Vmapped over programs it is correct but slow on a GPU: XLA runs a `while` with a
data-dependent predicate and a `cond` by copying the predicate to the host each iteration, and
under `vmap` the switch computes every branch and selects the whole register file. Here the
same training is laid out for a batch of P candidates from the start:

* Steps: a `lax.scan` over the task's static number of steps (XLA knows its trip count, so a
  GPU runs it without reading a predicate back). Divergence and the hurdle are per-candidate
  masks: a candidate that stops keeps its weights and memory as they were before that step,
  and its losses after the stop are NaN, as the interpreter records them. No `while` with a
  runtime predicate and no `cond`/`switch` anywhere.
* Instructions: a `lax.scan` over the static length of the size, padded with no-ops (a Python
  loop unrolling them compiled several times slower on the CPU). Programs are re-encoded in
  static single assignment: dead instructions are dropped first (backward liveness from the
  update and the evaluation weights, across steps through the memory slots that feed them),
  then the j-th instruction
  of every candidate writes vector register `8 + memory + j`: the same index for the whole
  batch, so a register write is a dynamic-update-slice, never a scatter.
* Registers: vectors `V[P, 8 + memory + length, n]` (w, g, rank, fan_in, fan_out, the memory
  slots, each instruction's result; the rows of lr, t and T are unused) and scalars
  `S[P, 8 + constants]` (lr, t, T and the program's constants as per-candidate scalars, never
  broadcast rows). An argument is read as its vector row, as its scalar broadcast (constants,
  lr, t, T), or as its row's first entry broadcast: the arguments of an elementwise
  instruction whose result is a scalar (known at encoding from the shape rule), which is how
  the interpreter's scalar opcodes read them. Such an instruction is not computed apart on
  [P]: every op is computed for the whole batch anyway (below), so a separate scalar pass
  would only add work; its row holds its value broadcast, as the interpreter's does.
* Per instruction: the argument rows are gathered per candidate, every op is computed once
  over the batch with the runtime's own functions (per-tensor reductions, row/column means
  and orthogonalize on static slices of the flat vector, vmapped over P, so orthogonalize's
  matmuls are per-tensor batched matmuls; no one-hot matmul), and `lax.select_n` picks each
  candidate's op (never a one-hot multiply: NaN x 0 is NaN).
* Each candidate has its own copy of the task's parameters; batches are shared, so the task's
  loss and gradient are vmapped over the parameters only (its matmuls become batched matmuls).

It computes what the interpreter computes, op for op (same fitness, hurdle, divergence
handling, evaluation weights: after the last step the programs run once more with g = 0,
lr = 0, t = steps + 1 and the validation loss is measured at their last output; a `where` on a
static condition, such as rank == 2, computes both branches and selects entry by entry, which
gives what each tensor's plan keeps, `language.plan`). Results agree to float32 rounding: a
batched matmul rounds differently in the last bit, which programs with very large steps amplify
over training.

Cost: every instruction slot computes all ops (about 15 transcendental functions and
orthogonalize's matmuls) for every candidate, so on a CPU, which the interpreter's `switch`
spares this, it is much slower per candidate; it is meant for accelerators, where the work is
memory-bound and wide.

Use: `encode_programs(programs, size)` then `compiled_multi_trainer(task, size,
P)(encoded, seed, lr_scales, hurdle_losses)`; `common_size(programs)` picks a size and
`train_multi` does all three for one seed, `evaluate_multi` gives
`fitness.EvalResult`s as `fitness.Evaluator.evaluate_many` does.
"""
from __future__ import annotations

import functools
import os
import time
from collections.abc import Callable, Sequence
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from jax.flatten_util import ravel_pytree

from lion_search.evaluation.interpreter import (
    LENGTH_BUCKETS,
    MEMORY_BUCKETS,
    OP_NAMES,
    OPCODES,
    Leaves,
    Size,
    Trained,
    constant_keys,
    constant_kind,
    constant_op,
    constant_values,
    leaves_of,
)
from lion_search.evaluation import flips
from lion_search.evaluation.results import hurdle_step
from lion_search.language.errors import ProgramError
from lion_search.language.ops import OPS, PER_LEAF_KINDS, Kind, Shape
from lion_search.language.parser import parse_program
from lion_search.language.program import ALL_INPUTS, INPUT_SHAPES, Program
from lion_search.language.shapes import instruction_shapes
from proxy_tasks.base import Task

N_INPUTS = len(ALL_INPUTS)  # w, g, lr, t, rank, fan_in, fan_out, T
W, G, LR, T_STEP = 0, 1, 2, 3
# Lengths a multi-program batch may be compiled for: the interpreter's buckets, and shorter ones (after
# dead-code removal most programs are short, and every padded instruction costs a full pass).
MULTI_LENGTHS = (8, 16) + LENGTH_BUCKETS
NOOP = OPCODES["copy"]
# How an argument is read: the vector register's row, the scalar register broadcast (constants,
# lr, t, T), or the first entry of the vector row broadcast (an argument of an instruction whose
# result is one scalar, as the interpreter's scalar opcodes read it).
ROW, SCALAR, FIRST = 0, 1, 2


class EncodedPrograms(NamedTuple):
    """A program in static single assignment, as arrays of fixed shape (stacked: P leading).

    Vector registers: [inputs 8 | memory | instruction j at 8 + memory + j]; scalar registers:
    [inputs 8 | constants]. `modes` says how each argument is read (ROW, SCALAR or FIRST).
    """

    ops: np.ndarray          # int32[length]     op of each instruction (OP_NAMES index)
    vector_args: np.ndarray  # int32[length, 3]  vector register of each argument
    scalar_args: np.ndarray  # int32[length, 3]  scalar register of each argument
    modes: np.ndarray        # int32[length, 3]  how each argument is read
    out_vector: np.ndarray   # int32[2 + memory] update, new memory values, evaluation weights
    out_scalar: np.ndarray   # int32[2 + memory]
    out_modes: np.ndarray    # int32[2 + memory] ROW or SCALAR
    constants: np.ndarray    # float32[n_constants]


# ------------------------------------------------------------------------------ encoding

def live_instructions(program: Program) -> tuple[list[int], set[int]]:
    """(indices of the live instructions, indices of the live memory slots): backward liveness
    from the update and the evaluation weights if any (without them the model is evaluated at
    the weights themselves, as the interpreter does), across steps through the memory slots
    whose entry value a live instruction or output reads."""
    ends = [program.outputs[0]] + ([program.outputs[-1]] if program.has_eval else [])
    live_slots: set[int] = set()
    while True:
        needed = {a for a in ends + [program.outputs[1 + k] for k in live_slots]
                  if isinstance(a, str)}
        live = []
        for i in reversed(range(len(program.body))):
            ins = program.body[i]
            if ins.dst in needed:
                live.append(i)
                needed.discard(ins.dst)
                needed.update(a for a in ins.args if isinstance(a, str))
        reached = {k for k, slot in enumerate(program.memory) if slot in needed}
        if reached <= live_slots:
            return live[::-1], live_slots
        live_slots |= reached


def live_length(program: Program) -> int:
    """The number of instructions the multi-program trainer runs for `program`."""
    return len(live_instructions(program)[0])


def encode_one(program: Program, size: Size) -> EncodedPrograms:
    """`program` without its dead instructions, in static single assignment, padded to `size`
    (numpy only). ProgramError if it does not fit."""
    live, live_slots = live_instructions(program)
    body = tuple(program.body[i] for i in live)
    if len(body) > size.length or program.slots > size.memory:
        raise ProgramError(f"program {program.name!r} ({len(body)} live instructions, "
                           f"{program.slots} slots) does not fit the multi-program trainer's size {size}")
    shapes = instruction_shapes(program)
    live_outputs = ((program.outputs[0],)
                    + tuple(program.outputs[1 + k] for k in sorted(live_slots))
                    + ((program.outputs[-1],) if program.has_eval else ()))
    keys = constant_keys(Program(program.name, program.memory, body, live_outputs))
    placed = constant_values(keys)
    if len(placed) > size.n_constants:
        raise ProgramError(f"program {program.name!r} has too many distinct constants for "
                           f"the multi-program trainer's size {size}")
    first_instruction = N_INPUTS + size.memory
    # name -> (vector register, scalar register, mode); lr, t and T are read as scalars
    names: dict[str, tuple[int, int, int]] = {
        name: (j, j, SCALAR if INPUT_SHAPES[name] is Shape.SCALAR else ROW)
        for j, name in enumerate(ALL_INPUTS)}
    names.update({slot: (N_INPUTS + k, 0, ROW) for k, slot in enumerate(program.memory)})
    weights = names["w"]   # the entry value: a program may reassign w

    def ref(a, kind: str = "value") -> tuple[int, int, int]:
        if isinstance(a, str):
            return names[a]
        return 0, N_INPUTS + keys[(kind, a)], SCALAR

    ops = np.full(size.length, NOOP, np.int32)
    vector_args = np.zeros((size.length, 3), np.int32)
    scalar_args = np.zeros((size.length, 3), np.int32)
    modes = np.zeros((size.length, 3), np.int32)
    for j, (i, ins) in enumerate(zip(live, body)):
        op = constant_op(ins.op, ins.args)
        ops[j] = OPCODES[op]
        # The interpreter computes an elementwise op whose result is a scalar on the first
        # entry of each argument (`interpret._branches`); other ops read whole rows.
        first = shapes[i] is Shape.SCALAR and (op == "interp_c"
                                               or OPS[op].kind is Kind.ELEMENTWISE)
        for k, a in enumerate(ins.args):
            v, sc, mode = ref(a, constant_kind(op, k))
            vector_args[j, k], scalar_args[j, k] = v, sc
            modes[j, k] = FIRST if first and mode == ROW else mode
        names[ins.dst] = (first_instruction + j, 0, ROW)
    n_out = 2 + size.memory
    out = [(N_INPUTS + k - 1, 0, ROW) for k in range(n_out)]  # padding slots keep their value
    out[0] = ref(program.outputs[0])
    for k in live_slots:
        out[1 + k] = ref(program.outputs[1 + k])
    out[-1] = ref(program.outputs[-1]) if program.has_eval else weights
    constants = np.zeros(size.n_constants, np.float32)
    constants[[offset for offset, _ in placed]] = [value for _, value in placed]
    out_vector, out_scalar, out_modes = (np.asarray(x, np.int32) for x in zip(*out))
    return EncodedPrograms(ops, vector_args, scalar_args, modes, out_vector, out_scalar,
                             out_modes, constants)


def encode_programs(programs: Sequence[Program], size: Size) -> EncodedPrograms:
    """The programs encoded (`encode_one`) and stacked along a leading axis."""
    encoded = [encode_one(p, size) for p in programs]
    return EncodedPrograms(*(np.stack(field) for field in zip(*encoded)))


def common_size(programs: Sequence[Program]) -> Size:
    """The smallest Size (length from MULTI_LENGTHS, memory from MEMORY_BUCKETS) that holds
    every program once its dead instructions are removed."""
    length = max((live_length(p) for p in programs), default=0)
    slots = max((p.slots for p in programs), default=0)
    memory = next((m for m in MEMORY_BUCKETS if slots <= m), None)
    for n in MULTI_LENGTHS:
        if length <= n and memory is not None:
            size = Size(n, memory)
            try:
                for p in programs:
                    encode_one(p, size)
            except ProgramError:
                continue
            return size
    raise ProgramError(f"programs with {length} live instructions and {slots} slots do not fit "
                       f"the multi-program trainer (at most {MULTI_LENGTHS[-1]} and "
                       f"{MEMORY_BUCKETS[-1]})")


# ------------------------------------------------------------------------------ the ops

def _vector_ops(leaves: Leaves) -> list[Callable]:
    """Per op (OP_NAMES order): f(args [3][P, n], a [P], one_minus_a [P]) -> [P, n], the op
    on each candidate's arguments with the runtime's own functions: elementwise ones on the
    rows, per-tensor ones on each tensor at its shape (static slices, vmapped over the
    candidates), global reductions on the whole row. a and 1 - a are interp_c's constant
    registers."""

    def make(name: str) -> Callable:
        if name == "interp_c":  # the interpreter's order: (1 - a) * x + a * y
            return lambda v, a, one_minus_a: one_minus_a[:, None] * v[0] + a[:, None] * v[1]
        op = OPS[name]
        if op.kind in PER_LEAF_KINDS:
            per = jax.vmap(functools.partial(leaves.apply, op.fn))
            return lambda v, a, one_minus_a: per(v[0])
        if op.kind is Kind.GLOBAL_REDUCE:
            per = jax.vmap(lambda x: op.fn([x]))
            return lambda v, a, one_minus_a: jnp.broadcast_to(per(v[0])[:, None], v[0].shape)
        return lambda v, a, one_minus_a: jnp.broadcast_to(op.fn(*v[:op.arity]), v[0].shape)

    return [make(name) for name in OP_NAMES]


def _candidates(index: jax.Array) -> jax.Array:
    return jnp.arange(index.shape[0])


def _read(V, S, vector_index, scalar_index, mode) -> jax.Array:
    """An argument of each candidate as a row [P, n]: V[p, vector_index[p]] (ROW),
    S[p, scalar_index[p]] broadcast (SCALAR) or the row's first entry broadcast (FIRST)."""
    p = _candidates(vector_index)
    row = V[p, vector_index]
    scalar = jnp.where(mode == SCALAR, S[p, scalar_index], row[:, 0])
    return jnp.where((mode == ROW)[:, None], row, scalar[:, None])


class _Machine(NamedTuple):
    """The static pieces of one compiled multi-program trainer."""

    size: Size
    leaves: Leaves
    vector_ops: list[Callable]

    def instruction(self, V, S, op, vector_args, scalar_args, modes, j):
        """Run instruction j (the scan's counter) of each candidate: V with its result
        written at the same register for every candidate."""
        args = [_read(V, S, vector_args[:, k], scalar_args[:, k], modes[:, k]) for k in range(3)]
        # interp_c's third argument is the register of its constant a; the next holds 1 - a.
        p = _candidates(op)
        a = S[p, scalar_args[:, 2]]
        one_minus_a = S[p, jnp.minimum(scalar_args[:, 2] + 1, S.shape[1] - 1)]
        results = [f(args, a, one_minus_a) for f in self.vector_ops]
        value = lax.select_n(jnp.broadcast_to(op[:, None], results[0].shape), *results)
        return lax.dynamic_update_index_in_dim(V, value, N_INPUTS + self.size.memory + j, axis=1)

    def run(self, program: EncodedPrograms, V, S):
        """All instructions once: the static length, padding included."""

        def body(V, xs):
            return self.instruction(V, S, *xs), None

        xs = (program.ops.T, jnp.swapaxes(program.vector_args, 0, 1),
              jnp.swapaxes(program.scalar_args, 0, 1), jnp.swapaxes(program.modes, 0, 1),
              jnp.arange(self.size.length))
        return lax.scan(body, V, xs)[0]

    def step(self, program: EncodedPrograms, V, S, w, g, lr, t):
        """One step of every program: (V with the inputs set and the instructions' results, S,
        the outputs [P, 2 + memory, n]: update, new memory values, evaluation weights)."""
        V = V.at[:, W].set(w).at[:, G].set(g)
        S = S.at[:, LR].set(lr).at[:, T_STEP].set(jnp.broadcast_to(t, lr.shape))
        V = self.run(program, V, S)
        outputs = jnp.stack([_read(V, S, program.out_vector[:, k], program.out_scalar[:, k],
                                   program.out_modes[:, k])
                             for k in range(2 + self.size.memory)], axis=1)
        return V, S, outputs


def _initial_registers(size: Size, program: EncodedPrograms, leaves: Leaves, steps: float,
                       P: int) -> tuple[jax.Array, jax.Array]:
    """(V, S) before the first step: the shape inputs and the constants set, the rest zero."""
    shape_rows = jnp.asarray(leaves.shape_inputs(steps))  # rank, fan_in, fan_out, T
    V = jnp.zeros((P, N_INPUTS + size.memory + size.length, leaves.n), jnp.float32)
    V = V.at[:, 4:N_INPUTS].set(jnp.broadcast_to(shape_rows, (P,) + shape_rows.shape))
    S = jnp.zeros((P, N_INPUTS + size.n_constants), jnp.float32)
    S = S.at[:, N_INPUTS - 1].set(jnp.float32(steps))
    S = S.at[:, N_INPUTS:].set(program.constants)
    return V, S


# --------------------------------------------------------------------------- the training loop

def make_multi_trainer(task: Task, size: Size, P: int) -> Callable[..., Trained]:
    """train(encoded [P-stacked EncodedPrograms], seed, lr_scales[P], hurdle_losses[P]) ->
    Trained with a leading P axis: what `interpret.make_trainer` gives each program (same
    seed, so the same initial weights and batches for all), the hurdle and lr scale per
    candidate."""
    params0 = jax.eval_shape(task.init_params, jax.random.PRNGKey(0))
    _, unravel = ravel_pytree(jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype), params0))
    leaves = leaves_of(params0)
    machine = _Machine(size, leaves, _vector_ops(leaves))
    hurdle_at, window = hurdle_step(task.steps), 10
    memory = slice(N_INPUTS, N_INPUTS + size.memory)

    def flat(tree):
        return ravel_pytree(tree)[0]

    loss_and_grad = jax.vmap(jax.value_and_grad(task.loss), in_axes=(0, None))
    val_loss = jax.vmap(lambda w, data_key: task.val_loss(unravel(w), data_key), in_axes=(0, None))

    def train(program: EncodedPrograms, seed: jax.Array, lr_scales: jax.Array,
              hurdle_losses: jax.Array) -> Trained:
        program = EncodedPrograms(*(jnp.asarray(x) for x in program))
        init_key, data_key = jax.random.split(jax.random.PRNGKey(seed))
        model = flips.flat_model_weights(task, params0, seed)
        w0 = model(flat(task.init_params(init_key)))
        w = jnp.broadcast_to(w0, (P, leaves.n))
        V, S = _initial_registers(size, program, leaves, task.steps, P)
        lr_scales = jnp.broadcast_to(jnp.asarray(lr_scales, jnp.float32), (P,))
        hurdle_losses = jnp.broadcast_to(jnp.asarray(hurdle_losses, jnp.float32), (P,))

        def train_step(carry, step):
            V, S, w, stopped, losses = carry
            running = stopped == 0
            loss, grads = loss_and_grad(jax.vmap(unravel)(model(w)),
                                        task.get_batch(data_key, step))
            g = model(jax.vmap(flat)(grads))     # D * dL/dw: D is its own inverse
            lr = lr_scales * task.schedule(step)
            V, S, outputs = machine.step(program, V, S, w, g, lr, step + 1.0)
            new_w = w - outputs[:, 0]
            losses = lax.dynamic_update_index_in_dim(
                losses, jnp.where(running, loss, jnp.nan), step, axis=0)
            diverged = ~jnp.isfinite(loss) | ~jnp.all(jnp.isfinite(new_w), axis=1)
            recent = lax.dynamic_slice_in_dim(losses, jnp.maximum(step - window + 1, 0), window)
            hopeless = (step == hurdle_at) & (jnp.mean(recent, axis=0) > hurdle_losses)
            stopped = jnp.where(running, jnp.where(diverged, 1, jnp.where(hopeless, 2, 0)),
                                stopped)
            # A stopped candidate keeps its weights and memory as they were before the step.
            going = (stopped == 0)[:, None]
            w = jnp.where(going, new_w, w)
            V = V.at[:, memory].set(jnp.where(going[:, :, None], outputs[:, 1:1 + size.memory],
                                              V[:, memory]))
            return (V, S, w, stopped, losses), None

        losses = jnp.full((task.steps, P), jnp.nan, jnp.float32)
        init = (V, S, w, jnp.zeros(P, jnp.int32), losses)
        (V, S, w, stopped, losses), _ = lax.scan(train_step, init, jnp.arange(task.steps))
        zeros = jnp.zeros_like(w)
        _, _, outputs = machine.step(program, V, S, w, zeros, jnp.zeros(P, jnp.float32),
                                     task.steps + 1.0)
        val = val_loss(model(outputs[:, -1]), data_key)
        val = jnp.where((stopped == 0) & jnp.isfinite(val), val, jnp.inf)
        stopped = jnp.where((stopped == 0) & ~jnp.isfinite(val), 1, stopped)
        return Trained(val, losses.T, stopped)

    return train


@functools.cache
def compiled_multi_trainer(task: Task, size: Size, P: int) -> Callable[..., Trained]:
    """The multi-program trainer for (task, size, P), jitted once per process: train(encoded,
    seed, lr_scales[P], hurdle_losses[P]) -> Trained (val_loss[P], losses[P, steps],
    stopped[P])."""
    return jax.jit(make_multi_trainer(task, size, P))


# ------------------------------------------------------------------ fitting P to the device

FITTED_SIZE = Size(32, MEMORY_BUCKETS[-1])   # what P is fitted at: the default length limit
MEMORY_SHARE = 0.5     # of the device's memory that one multi-program batch may plan to take
MOST_PROGRAMS = 4096
# On a CPU the trainer computes every op for every program, so its speed does not grow with P
# (BENCHMARKS.md, section 8): there P stays small, whatever the memory.
MOST_PROGRAMS_CPU = 16


def trainer_bytes(task: Task, size: Size, P: int) -> int:
    """The bytes XLA assigns the multi-program trainer's buffers (arguments, outputs and
    temporaries) for P programs of `size` on the default device; compiles it."""
    programs = [parse_program("def sgd(w, g, lr, t):\n    return lr * g")] * P
    compiled = compiled_multi_trainer(task, size, P).lower(
        encode_programs(programs, size), np.int32(0), np.ones(P, np.float32),
        np.full(P, np.inf, np.float32)).compile()
    m = compiled.memory_analysis()
    return int(m.argument_size_in_bytes + m.output_size_in_bytes + m.temp_size_in_bytes)


def device_bytes() -> int:
    """The memory of JAX's default device: its allocator's limit where it reports one (GPUs),
    else this machine's physical memory (the CPU)."""
    stats = jax.devices()[0].memory_stats() or {}
    return int(stats.get("bytes_limit") or os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))


def fit_multi_batch(task: Task, memory: int, size: Size = FITTED_SIZE,
                   most: int = MOST_PROGRAMS) -> int:
    """The largest power of two P <= `most` (at least 8) whose trainer's buffers take at most
    MEMORY_SHARE of `memory` bytes. The buffers grow linearly in P (each program has its own
    weights, memory and registers); the line is fitted to XLA's figures at P = 8 and 16."""
    small, large = trainer_bytes(task, size, 8), trainer_bytes(task, size, 16)
    per_program = max((large - small) / 8, 1.0)
    fixed = small - 8 * per_program
    P = 8
    while 2 * P <= most and fixed + 2 * P * per_program <= MEMORY_SHARE * memory:
        P *= 2
    return P


def multi_batch_for_device(task: Task) -> int:
    """P for JAX's default device: fitted to its memory, at most MOST_PROGRAMS on an
    accelerator and MOST_PROGRAMS_CPU on a CPU."""
    cpu = jax.devices()[0].platform == "cpu"
    return fit_multi_batch(task, device_bytes(), most=MOST_PROGRAMS_CPU if cpu else MOST_PROGRAMS)


def train_multi(task: Task, programs: Sequence[Program], seed: int,
                     lr_scales: Sequence[float] | float = 1.0,
                     hurdle_losses: Sequence[float] | float = float("inf"),
                     P: int | None = None, size: Size | None = None) -> Trained:
    """Train `programs` together (padded to P with copies of the first), as numpy arrays of
    len(programs): what `interpret.compiled_trainer` gives each of them for `seed`."""
    programs = list(programs)
    P = P or len(programs)
    if not 0 < len(programs) <= P:
        raise ValueError(f"need between 1 and P = {P} programs, got {len(programs)}")
    size = size or common_size(programs)
    padded = programs + [programs[0]] * (P - len(programs))
    lr = np.broadcast_to(np.asarray(lr_scales, np.float32), (len(programs),))
    hurdle = np.broadcast_to(np.asarray(hurdle_losses, np.float32), (len(programs),))
    lr = np.concatenate([lr, np.full(P - len(programs), lr[0], np.float32)])
    hurdle = np.concatenate([hurdle, np.full(P - len(programs), hurdle[0], np.float32)])
    train = compiled_multi_trainer(task, size, P)
    out = jax.device_get(train(encode_programs(padded, size), np.int32(seed), lr, hurdle))
    return Trained(*(np.asarray(x)[:len(programs)] for x in out))


def evaluate_multi(task: Task, programs: Sequence[Program], seeds: Sequence[int] = (0,),
                        lr_scale: float = 1.0, hurdle: float = float("inf"), P: int = 64,
                        size: Size | None = None) -> list:
    """`fitness.Evaluator.evaluate_many` on the multi-program trainer: one EvalResult per
    program, in order, trained in batches of P (the last padded) once per seed, each batch at
    `size` (default: `common_size` of the batch; a fixed size avoids compiling one
    trainer per size)."""
    from lion_search.evaluation.results import combine_seeds

    programs = list(programs)
    results = []
    for first in range(0, len(programs), P):
        chunk = programs[first:first + P]
        start = time.perf_counter()
        runs = [train_multi(task, chunk, s, lr_scale, hurdle, P=P, size=size)
                for s in seeds]
        seconds = (time.perf_counter() - start) / len(chunk)
        for j in range(len(chunk)):
            val, losses, stopped = (np.stack([run[k][j] for run in runs]) for k in range(3))
            results.append(combine_seeds(val, losses, stopped, seconds))
    return results
