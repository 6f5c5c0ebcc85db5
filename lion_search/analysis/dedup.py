"""Deduplication before training: equivalent children reuse the stored fitness.

Two keys identify a program's computation:

* `dataflow_hash`, structural: the hash of the expression DAG of the outputs. An input hashes by
  its role (w, g, lr, t, memory slot k), a constant by its exact value, an instruction's value
  by h(op, h(arg_1), ..., h(arg_n)) with the args of commutative ops sorted, and `copy(x)` as x.
  Names never enter the hash and only what the outputs read does, so the key is the same for
  programs that differ by variable names, dead instructions, the order of independent
  instructions, the order of a commutative op's operands or plain assignments.

* `fingerprint`, functional: the hash of every output of `steps` steps of the program, run by
  the interpreter's compiled probe (one call for all its runs; about 1 ms a new program on a
  CPU, half of it its plans: BENCHMARKS.md) on fixed pseudo-random inputs and rounded to about
  5 significant digits, memory slots as the program stores them on each tensor (`plan`: nothing
  where no branch a tensor takes reads a slot). It also equates algebraically equal programs (x
  + x and 2 * x, sqrt(x * x) and abs(x)) as long as their float32 results round alike. The
  inputs are chosen so that different optimizers rarely agree on all of them: 64 entries in two
  leaves; memory starts random rather than zero (a mid-training state, where sign(interp(g, m,
  0.9)) and sign(interp(g, m, 0.8)) differ); g is fresh each step with a fifth of its entries
  exactly zero (so lazy updates show); w moves by the update; lr changes every step (so `lr`
  does not collide with a constant); and t runs through FINGERPRINT_T = 1, 4, 15, 6, 35, ...:
  with the default 4 steps, every-k-steps programs fire on a different set of steps for each k
  in 1..6. The runs declare other tensors' rank, fan_in and fan_out for the same entries
  (FINGERPRINT_FACTS), so that static branches for tensors unlike the two leaves show.

`DedupCache` maps both keys to the fitness of the program that produced them. A search's
fingerprint probes the tensors of the tasks it trains on, each at its task's length
(`Equivalence.RUN`): two programs that differ only where none of those runs goes are one
program to it.
"""
from __future__ import annotations

import functools
import hashlib
import math
from typing import Iterable, Mapping, NamedTuple

import numpy as np

from lion_search.analysis.equivalence import Equivalence
from lion_search.evaluation.interpreter import PROBE_STEPS_T, probe, size_for
from lion_search.evaluation.tasks import get_task, tensor_facts_of
from lion_search.language.ops import COMMUTATIVE_OPS
from lion_search.language.plan import tensor_facts
from lion_search.language.program import ALL_INPUTS, SHAPE_INPUTS, Arg, Program
from lion_search.language.shapes import tensor_plans
from lion_search.simplify.dead_code import live_reads

FINGERPRINT_T: tuple[float, ...] = (1.0, 4.0, 15.0, 6.0, 35.0, 24.0, 60.0, 420.0)
FINGERPRINT_SHAPES: tuple[tuple[int, ...], ...] = ((6, 8), (16,))
# The (rank, fan_in, fan_out) each run of the fingerprint declares for those leaves: the first
# run their own, the others those of other tensors (a 192 x 160 matrix, a kernel of rank 3, one
# of rank 4, a 0-d scalar), so that programs that differ only on a branch that such tensors take
# (a where on rank >= 3 or on min(fan_in, fan_out) >= 128) get different keys.
FINGERPRINT_FACTS: tuple = (None, ((2, 192, 160), (3, 4, 16)), ((4, 3, 8), (0, 1, 1)))
# The lengths T a fingerprint also runs at (each leaf with its own facts) for a program whose
# live code reads T: the probe's T = 100 alone gave `where(T >= 136.8, m, lr * m)` the key of
# `lr * m`, which it trains unlike on every task of 137 steps or more (the proxy's 300).
FINGERPRINT_LENGTHS: tuple[float, ...] = (1_000.0, 10_000.0, 100_000.0)
FINGERPRINT_SEED = 20230213
FACT_INPUTS = frozenset(SHAPE_INPUTS) - {"T"}   # what a run's declared facts set
MANTISSA_BITS = 17


class FingerprintInputs(NamedTuple):
    """What `fingerprint` feeds a program, as flat vectors: w_1, memory_1 per slot, and per
    step g_k, lr_k, t_k."""

    w: np.ndarray         # [entries]
    grads: np.ndarray     # [steps, entries]
    lrs: np.ndarray       # [steps]
    ts: np.ndarray        # [steps]
    memory: np.ndarray    # [slots, entries]


def _digest(text: str) -> str:
    return hashlib.blake2b(text.encode(), digest_size=16).hexdigest()


# ------------------------------------------------------------------------------ data-flow hash

def dataflow_hash(program: Program) -> str:
    """A hex key of the outputs' expression DAG, invariant to names, dead code and operand order."""
    env: dict[str, str] = {name: _digest(f"input {name}") for name in ALL_INPUTS}
    env.update((slot, _digest(f"memory {k}")) for k, slot in enumerate(program.memory))

    def key(a: Arg) -> str:
        return env[a] if isinstance(a, str) else _digest(f"constant {float(a)!r}")

    for ins in program.body:
        args = [key(a) for a in ins.args]
        if ins.op == "copy":
            env[ins.dst] = args[0]
            continue
        if ins.op in COMMUTATIVE_OPS:
            args.sort()
        env[ins.dst] = _digest(f"{ins.op}({','.join(args)})")
    returned = [key(a) for a in program.outputs]
    if program.has_eval:
        returned[-1] = f"eval {returned[-1]}"
    return _digest("return " + ",".join(returned))


# ---------------------------------------------------------------------------------- fingerprint

@functools.lru_cache(maxsize=None)
def fingerprint_inputs(steps: int, n_memory: int) -> FingerprintInputs:
    """The fixed inputs of `fingerprint`, each a flat float32 vector over the leaves of
    FINGERPRINT_SHAPES, from a fixed seed.

    w, the initial memory slots and the gradients are N(0, 1) in the first leaf and 100x smaller
    in the second (so that per-tensor and global reductions differ), with a fifth of the
    gradient entries exactly 0; lr_k = 0.01 * 2 ** u_k with u_k ~ U(-1, 1); t_k is
    FINGERPRINT_T[k]. Each entry of a gradient is also scaled by 10 ** -(9 u) and each entry
    of a memory slot by 10 ** -(18 u), u ~ U(0, 1): training meets gradients and second
    moments that small, where an epsilon such as the 1e-8 of sqrt(v) + 1e-8 decides the step,
    so programs that differ only in such a constant get different fingerprints.
    """
    rng = np.random.default_rng(FINGERPRINT_SEED)

    def vector(p_zero: float = 0.0, decades: float = 0.0) -> np.ndarray:
        parts = [scale * rng.normal(size=shape) * (rng.random(size=shape) >= p_zero)
                 * 10.0 ** (-decades * rng.random(size=shape))
                 for shape, scale in zip(FINGERPRINT_SHAPES, (1.0, 0.01))]
        return np.concatenate([x.ravel() for x in parts]).astype(np.float32)

    w = vector()
    grads = np.stack([vector(p_zero=0.2, decades=9.0) for _ in range(steps)])
    lrs = (0.01 * 2.0 ** rng.uniform(-1.0, 1.0, size=steps)).astype(np.float32)
    memory = np.stack([vector(decades=18.0) for _ in range(n_memory)]) if n_memory else \
        np.zeros((0, w.size), np.float32)
    return FingerprintInputs(w, grads, lrs, np.asarray(FINGERPRINT_T[:steps], np.float32), memory)


def quantize(values: np.ndarray) -> bytes:
    """Values rounded to MANTISSA_BITS significant bits (about 5 significant digits), as bytes.

    x = m * 2 ** e with 0.5 <= |m| < 1 becomes (round(m * 2 ** MANTISSA_BITS), e), -0 becomes 0,
    and NaN, +Inf and -Inf become their own codes.
    """
    x = np.asarray(values, np.float64).ravel()
    finite = np.isfinite(x)
    mantissa, exponent = np.frexp(np.where(finite, x, 0.0))
    rounded = np.round(mantissa * 2.0 ** MANTISSA_BITS).astype(np.int64)
    code = np.select([np.isnan(x), x == np.inf, x == -np.inf], [1, 2, 3], 0)
    return np.stack([rounded, exponent.astype(np.int64), code]).tobytes()


def fingerprint(program: Program, steps: int = 4, facts: tuple = FINGERPRINT_FACTS,
                zero_memory: bool = False, runs: tuple | None = None) -> str:
    """A hex key of the program's outputs over `steps` steps on fixed inputs, rounded.
    With `zero_memory` the memory slots start at zero, as in training, not random.

    Step k feeds (w_k, g_k, lr_k, t_k, memory_k) and gets (u_k, memory_{k+1}[, evaluation
    weights]); then w_{k+1} = w_k - u_k. This runs once for each entry of `facts` (default
    FINGERPRINT_FACTS: the leaves' (rank, fan_in, fan_out) in that run, None for their own), at
    the probe's T, and, for a program whose live code reads T, once more at each of
    FINGERPRINT_LENGTHS. `runs`, if given, are the (facts, T) of every run instead (a run's
    tasks' tensors, each at its task's length: `tasks_runs`). Runs that differ only in what
    the program does not read (facts, T) are probed once: they give the same outputs.
    Every output of every step of every run enters the key (see `quantize`), the memory
    slots as the program's plan stores them: zero on the leaves where a slot is not stored,
    and left out, as the interpreter's padding slots are, where it is stored on none.
    """
    if not 1 <= steps <= len(FINGERPRINT_T):
        raise ValueError(f"steps must be in 1..{len(FINGERPRINT_T)}, got {steps}")
    inputs = fingerprint_inputs(steps, size_for(program).memory)
    if zero_memory:
        inputs = inputs._replace(memory=np.zeros_like(inputs.memory))
    reads = live_reads(program) | {a for a in program.outputs if isinstance(a, str)}
    if runs is None:
        runs = tuple((declared, PROBE_STEPS_T) for declared in facts) + (
            tuple((None, total) for total in FINGERPRINT_LENGTHS) if "T" in reads else ())
    distinct = list(dict.fromkeys(run_key(run, reads) for run in runs))
    with np.errstate(all="ignore"):
        computed = probe(program, FINGERPRINT_SHAPES,
                         *(np.broadcast_to(x, (len(distinct),) + x.shape) for x in
                           (inputs.w, inputs.memory, inputs.grads, inputs.lrs, inputs.ts)),
                         facts=[declared for declared, _ in distinct],
                         total_steps=[total for _, total in distinct])
    by_run = dict(zip(distinct, computed))
    outputs = np.stack([by_run[run_key(run, reads)] for run in runs])
    stored = as_stored(program, outputs, tuple(run_key(run, reads)[0] for run in runs))
    return hashlib.blake2b(quantize(stored), digest_size=16).hexdigest()


def training_keys(program: Program, runs: tuple) -> tuple[str, str]:
    """(the fingerprint over `runs`, the same from zero memory, marked "zero "): programs that
    share either train alike there. The second is training's own start, where a slot that only
    ever multiplies itself stays zero though the fingerprint's random start tells such programs
    apart (six copies were promoted in one run: BENCHMARKS.md section 31)."""
    return (fingerprint(program, runs=runs),
            "zero " + fingerprint(program, runs=runs, zero_memory=True))


def score_keys(scores: Mapping[int, float]) -> set[str]:
    """Keys of a program's scores on the proxy's training runs, one per seed: two programs that
    trained to the same loss on the same run, to the last bit, took the same steps there. They
    catch what the fingerprints cannot: a slot that is stored and read, but only on a branch
    that training never takes (`where(m2, g, m1)` where m2 is a running sum, never 0), kept
    nine copies of one program apart in one run's held-back check (BENCHMARKS.md section 37).
    Programs that take different steps end elsewhere (a chaotic program's loss moves with the
    last bits of any step); programs whose steps all leave the weights as they were all end at
    the starting loss, and are alike there too."""
    return {f"score {seed} {float(score).hex()}" for seed, score in scores.items()}


def run_key(run: tuple, reads: frozenset[str] | set[str]) -> tuple:
    """A fingerprint run (declared facts, T) as the program reading `reads` sees it: without
    its declared facts where it reads none of them, at the probe's T where it does not read
    T."""
    declared, total = run
    return (declared if reads & FACT_INPUTS else None, total if "T" in reads else PROBE_STEPS_T)


def facts_runs(facts: Iterable[tuple[int, int, int]]) -> tuple:
    """Fingerprint runs that declare each of the tensor `facts` (rank, fan_in, fan_out) once:
    the distinct facts in order, two to a run (one per fingerprint leaf; an odd one out twice).
    `fingerprint(p, facts=facts_runs(F))` tells programs apart only where a tensor with facts
    in F would be updated differently: static branches that no such tensor takes are ignored."""
    distinct = sorted(set(facts))
    if not distinct:
        raise ValueError("facts_runs needs at least one tensor's facts")
    pairs = [distinct[i:i + 2] for i in range(0, len(distinct), 2)]
    return tuple((pair[0], pair[-1]) for pair in pairs)


def tasks_runs(tasks: Iterable[str]) -> tuple:
    """Fingerprint runs (facts, T) that declare every parameter tensor of each of `tasks`
    (`facts_runs`) at the task's own length T: where a run trains a program."""
    return tuple(dict.fromkeys((pair, float(get_task(task).steps)) for task in tasks
                               for pair in facts_runs(tensor_facts_of(task))))


def equivalence_runs(equivalence: Equivalence | str, tasks: Iterable[str]) -> tuple | None:
    """The runs a search's fingerprint probes under `equivalence` (an Equivalence or its value,
    as a run's settings keep it) for a run training on `tasks`: None for the probes' own."""
    return tasks_runs(tasks) if Equivalence(equivalence) == Equivalence.RUN else None


def as_stored(program: Program, outputs: np.ndarray, facts: tuple = FINGERPRINT_FACTS
              ) -> np.ndarray:
    """The probe's outputs [runs, steps, 2 + memory, entries] of the runs of `facts` as the
    program keeps them: the update, each memory slot stored on some leaf of some run (zero on
    the leaves where its plan does not store it) and the evaluation weights if any. The runs'
    plans are made together (`shapes.tensor_plans`: runs that declare the same facts share one,
    and what the runs' tensors share is worked out once)."""
    outputs = np.array(outputs)
    ends = np.cumsum([0] + [math.prod(s) for s in FINGERPRINT_SHAPES])
    own = tuple(tensor_facts(s) for s in FINGERPRINT_SHAPES)
    declared = [d or own for d in facts]
    distinct = tuple(dict.fromkeys(declared))
    plans = dict(zip(distinct, tensor_plans(program, distinct)))
    stored = set()
    for run, facts_of_run in enumerate(declared):
        for k, slot in enumerate(plans[facts_of_run].slots):
            for leaf, shape in enumerate(slot):
                if shape is None:
                    outputs[run, :, 1 + k, ends[leaf]:ends[leaf + 1]] = 0.0
                else:
                    stored.add(k)
    columns = [0] + [1 + k for k in sorted(stored)] + ([-1] if program.has_eval else [])
    return outputs[:, :, columns]


# ---------------------------------------------------------------------------------------- cache

Keys = tuple[str, str]  # (dataflow_hash, fingerprint)


class DedupCache:
    """Fitness by data-flow hash and by fingerprint; counts lookups and hits.

    Compute `keys(program)` once per child, then `lookup_keys` before training and `add_keys`
    after; `lookup(program)` and `add(program, fitness)` do both steps in one call. The
    fingerprint probes `runs` (`fingerprint`; a search's: `equivalence_runs`).
    """

    def __init__(self, steps: int = 4, runs: tuple | None = None):
        self.steps = steps
        self.runs = runs
        self.by_hash: dict[str, float] = {}
        self.by_fingerprint: dict[str, float] = {}
        # Programs with one data-flow hash compute the same values, so share a fingerprint:
        # a child whose hash was seen (a pending or known program) is not run again.
        self.fingerprints: dict[str, str] = {}
        self.lookups = 0
        self.hits = 0

    @property
    def hit_rate(self) -> float:
        """hits / lookups (0 before any lookup)."""
        return self.hits / self.lookups if self.lookups else 0.0

    def keys(self, program: Program) -> Keys:
        """(dataflow_hash, fingerprint) of `program` (the fingerprint is computed once per
        hash)."""
        key = dataflow_hash(program)
        if key not in self.fingerprints:
            self.fingerprints[key] = fingerprint(program, self.steps, runs=self.runs)
        return key, self.fingerprints[key]

    def lookup_keys(self, keys: Keys) -> float | None:
        """The stored fitness of a program with these keys (hash first, then fingerprint)."""
        self.lookups += 1
        found = self.by_hash.get(keys[0])
        if found is None:
            found = self.by_fingerprint.get(keys[1])
        if found is not None:
            self.hits += 1
        return found

    def contains(self, keys: Keys) -> bool:
        """Whether a program with these keys was evaluated (not counted as a lookup)."""
        return keys[0] in self.by_hash or keys[1] in self.by_fingerprint

    def add_keys(self, keys: Keys, fitness: float) -> None:
        """Store `fitness` under both keys."""
        self.by_hash[keys[0]] = fitness
        self.by_fingerprint[keys[1]] = fitness

    def lookup(self, program: Program) -> float | None:
        """The stored fitness of a program equivalent to `program`, or None; the fingerprint is
        computed only when the data-flow hash misses."""
        found = self.by_hash.get(dataflow_hash(program))
        if found is not None:
            self.lookups += 1
            self.hits += 1
            return found
        return self.lookup_keys(("", fingerprint(program, self.steps, runs=self.runs)))

    def add(self, program: Program, fitness: float) -> None:
        """Store the fitness of `program`."""
        self.add_keys(self.keys(program), fitness)
