"""The multi-program trainer: the same results as the interpreter, and no host round trips."""
import math

import jax
import jax.extend.core
import numpy as np
import pytest

from lion_search.evaluation.fitness import Evaluator
from lion_search.evaluation.interpreter import (
    Size,
    compiled_trainer,
    encode,
    make_trainer,
    size_for,
)
from lion_search.evaluation.multi_trainer import (
    common_size,
    compiled_multi_trainer,
    encode_programs,
    evaluate_multi,
    live_instructions,
    make_multi_trainer,
    train_multi,
)
from lion_search.evaluation.tasks import get_task
from lion_search.language.parser import parse_program
from lion_search.language.validate import check
from lion_search.runs.references import load_program
from lion_search.search.mutate import mutate

# Short runs keep the file fast; the hurdle (at steps // 4 = 10) still sees a full window.
STEPS = 40
P = 8
SIZE = Size(32, 4)
SEEDS = ("sgd", "momentum", "adam", "lion", "adamw", "rmsprop", "adafactor", "muon",
         "schedule_free_adamw", "lookahead", "nesterov", "adagrad")
HANDWRITTEN = (
    # every per-tensor op, a global reduction and evaluation weights
    """def shaped(w, g, lr, t, m):
    e = w - 0.1 * m
    m = interp(g, m, 0.9)
    u = orthogonalize(m) + row_mean(g) - col_mean(m) + mean(g) * rms(w) / (norm(g) + 1.0)
    return lr * (u + global_rms(g) * sign(g)), m, eval_at(e)""",
    # scalar instructions, a scalar slot, reductions of scalars
    """def scalars(w, g, lr, t, s):
    s = s + lr ** 2
    d = sqrt(s) / (1 - 0.999 ** t) + row_mean(lr) * global_mean(T) + mean(t)
    return lr * g * d / (global_norm(g) + 0.001), s""",
    # divergent
    """def blowup(w, g, lr, t):
    return lr * 1e30 * g""",
    """def grows(w, g, lr, t, m):
    m = 3 * m + g
    return lr * m, m""",
    """def exploding(w, g, lr, t):
    return exp(t) * g""",
    # reassigns w: the model is still evaluated at the weights
    """def reassigns(w, g, lr, t, m):
    m = interp(g, m, 0.9)
    w = w * 0.0
    return lr * (m + 0.001 * w), m""",
)


def programs() -> list:
    """30 programs: mutation chains of seeds (the new ops and evaluation weights among them),
    and hand-written ones, divergent ones included."""
    rng = np.random.default_rng(0)
    out = []
    for i in range(30 - len(HANDWRITTEN)):
        program = load_program(SEEDS[i % len(SEEDS)])
        for _ in range(int(rng.integers(0, 4))):
            program = mutate(program, rng).program
        out.append(program)
    out += [parse_program(text) for text in HANDWRITTEN]
    assert all(check(p) is None for p in out)
    return out


@pytest.fixture(scope="module")
def task():
    return get_task("digits-mlp", steps=STEPS)


def test_multi_trainer_matches_interpreter(task):
    progs = programs()
    used = {op for p in progs for ins in p.body for op in [ins.op]}
    assert {"row_mean", "col_mean", "orthogonalize"} <= used
    assert any(p.has_eval for p in progs)
    rng = np.random.default_rng(1)
    lrs = (10 ** rng.uniform(-3, -1, len(progs))).astype(np.float32)
    # A hurdle for every third candidate: some pass it, some are cut.
    hurdles = np.where(np.arange(len(progs)) % 3 == 0, 2.1, np.inf).astype(np.float32)
    seed = 3
    ours = []
    for first in range(0, len(progs), P):
        chunk = slice(first, first + P)
        ours.append(train_multi(task, progs[chunk], seed, lrs[chunk], hurdles[chunk],
                                     P=P, size=SIZE))
    val = np.concatenate([o.val_loss for o in ours])
    stopped = np.concatenate([o.stopped for o in ours])
    losses = np.concatenate([o.losses for o in ours])
    codes, curve_errors = set(), []
    for i, program in enumerate(progs):
        size = size_for(program)
        ref = jax.device_get(compiled_trainer(task, size)(
            encode(program, size), np.int32(seed), lrs[i], hurdles[i]))
        assert int(stopped[i]) == int(ref.stopped), program
        codes.add(int(ref.stopped))
        if math.isinf(ref.val_loss):
            assert math.isinf(val[i]), program
        else:
            assert val[i] == pytest.approx(float(ref.val_loss), rel=1e-4), program
        np.testing.assert_array_equal(np.isnan(losses[i]), np.isnan(ref.losses))
        np.testing.assert_allclose(losses[i], ref.losses, rtol=5e-2)
        with np.errstate(invalid="ignore"):
            curve_errors.append(np.nanmax(np.abs(losses[i] - ref.losses) / np.abs(ref.losses),
                                          initial=0.0))
    assert codes == {0, 1, 2}  # runs that finish, diverge and are cut are all compared
    # The training curves agree to rounding; a few programs (update steps that ignore lr, or
    # rsqrt of a zero slot, times 1e4) amplify the batched matmuls' last-bit differences.
    assert np.median(curve_errors) < 1e-5


def test_dead_code_is_removed():
    program = parse_program("""def f(w, g, lr, t, m, unused):
    dead = exp(g)
    unused = unused + dead
    m = interp(g, m, 0.9)
    return lr * m, m, unused""")
    live, slots = live_instructions(program)
    assert [program.body[i].op for i in live] == ["interp", "mul"]
    assert slots == {0}
    assert common_size([program]).length == 8


def _primitives(jaxpr) -> list:
    """Every equation of a jaxpr and of its sub-jaxprs (loop bodies, conditions, calls)."""
    found = []
    for eqn in jaxpr.eqns:
        found.append(eqn)
        for value in eqn.params.values():
            for sub in value if isinstance(value, (list, tuple)) else [value]:
                if isinstance(sub, jax.extend.core.ClosedJaxpr):
                    found += _primitives(sub.jaxpr)
                elif isinstance(sub, jax.extend.core.Jaxpr):
                    found += _primitives(sub)
    return found


def test_no_while_or_cond(task):
    """Steps and instructions are scans with static trip counts: no `while` with a runtime
    predicate (which a GPU runs by copying the predicate to the host each iteration) and no
    `cond`, in the traced computation or any sub-computation."""
    train = make_multi_trainer(task, SIZE, 4)
    encoded = encode_programs([load_program(n) for n in ("adam", "muon", "adafactor",
                                                           "schedule_free_adamw")], SIZE)
    jaxpr = jax.make_jaxpr(train)(encoded, np.int32(0), np.ones(4, np.float32),
                                  np.full(4, np.inf, np.float32))
    names = [eqn.primitive.name for eqn in _primitives(jaxpr.jaxpr)]
    assert names.count("scan") >= 3  # the steps, and the instructions inside them and after
    assert "dot_general" in names     # the walk reaches into the loop bodies
    assert not {"while", "cond", "switch"} & set(names), sorted(set(names))
    # The walk finds them where they are: the interpreter's loop has both.
    size = size_for(load_program("adam"))
    reference = jax.make_jaxpr(make_trainer(task, size))(
        encode(load_program("adam"), size), np.int32(0), np.float32(1), np.float32(np.inf))
    assert {"while", "cond"} <= {eqn.primitive.name for eqn in _primitives(reference.jaxpr)}


def test_compiled_once_per_size(task):
    assert compiled_multi_trainer(task, SIZE, P) is compiled_multi_trainer(task, SIZE, P)
    with pytest.raises(ValueError):
        train_multi(task, [load_program("sgd")] * 3, 0, P=2)


def test_vector_and_scalar_parameters():
    """A task whose parameters are a vector and a 0-d scalar (the per-tensor ops at rank 0 and
    1), at a P larger than the programs (padding)."""
    task = get_task("logreg", steps=20)
    progs = [load_program(n) for n in ("sgd", "lion", "adam")] + [parse_program(
        """def ortho(w, g, lr, t, m):
    m = interp(g, m, 0.9)
    return lr * orthogonalize(m) + lr * row_mean(g) * rms(g) + lr * col_mean(g), m""")]
    ours = train_multi(task, progs, 0, 0.05, P=8, size=Size(16, 4))
    for i, program in enumerate(progs):
        s = size_for(program)
        ref = compiled_trainer(task, s)(encode(program, s), np.int32(0), np.float32(0.05),
                                        np.float32(np.inf))
        assert float(ours.val_loss[i]) == pytest.approx(float(ref.val_loss), rel=1e-5)
        assert int(ours.stopped[i]) == int(ref.stopped)


def test_evaluate_population_is_the_fitness():
    """EvalResults as the interpreter's Evaluator gives them: fitness, status, per seed."""
    task = get_task("logreg", steps=20)
    progs = [load_program("adam"), load_program("sgd"), parse_program(HANDWRITTEN[2])]
    ours = evaluate_multi(task, progs, seeds=(0, 1), lr_scale=0.05, P=8, size=Size(16, 4))
    reference = Evaluator(task, seeds=(0, 1), lr_scale=0.05).evaluate_many(progs)
    for a, b in zip(ours, reference):
        assert a.status == b.status
        assert a.fitness == pytest.approx(b.fitness, rel=1e-5)
        assert a.per_seed == pytest.approx(b.per_seed, rel=1e-5)


def test_workers_with_a_population_batch_score_as_the_interpreter_does():
    """A GPU worker's jobs (EvalSpec.multi_batch > 0) go through the multi-program trainer and
    score as the interpreter's workers do."""
    from lion_search.search.jobs import EvalSpec, Job, Scoring, train_jobs

    texts = [str(load_program(name)) for name in ("adamw", "lion", "sgd")]
    jobs = [Job(i, text, Scoring(("logreg",), (math.inf,))) for i, text in enumerate(texts)]
    spec = EvalSpec(("logreg",), "constant", (0,))
    plain = train_jobs(jobs, spec, "cpu")
    population = train_jobs(jobs, EvalSpec(("logreg",), "constant", (0,), multi_batch=4), "gpu")
    assert [d.id for d in population] == [d.id for d in plain]
    for ours, theirs in zip(population, plain):
        assert ours.status == theirs.status and ours.fitness == pytest.approx(theirs.fitness, rel=1e-4)


def test_the_population_batch_fits_the_memory_it_is_given():
    """P grows with the device's memory, in powers of two between 8 and the cap, and XLA's own
    figure for the fitted P stays within the share of memory it was fitted to."""
    from lion_search.evaluation.multi_trainer import (
        MEMORY_SHARE,
        fit_multi_batch,
        trainer_bytes,
    )

    task = get_task("quadratic")
    small, large = trainer_bytes(task, SIZE, 8), trainer_bytes(task, SIZE, 16)
    assert large > small
    per_program = (large - small) / 8
    memory = int((small + 56 * per_program) / MEMORY_SHARE)    # room for P = 64, not 128
    assert fit_multi_batch(task, memory, SIZE) == 64
    assert trainer_bytes(task, SIZE, 64) <= 1.05 * MEMORY_SHARE * memory
    assert fit_multi_batch(task, 1, SIZE) == 8
    assert fit_multi_batch(task, 10**15, SIZE, most=512) == 512


@pytest.mark.slow  # starts Ray and compiles the multi-program trainer three times: about 20 s
def test_a_worker_that_fits_its_population_to_memory_trains_batches_of_that_size():
    """A Ray actor whose spec asks for a population fitted to its device tells the pool its P,
    and the pool then sends batches of that size (on a CPU, P is capped small)."""
    import ray

    from lion_search.evaluation.multi_trainer import MOST_PROGRAMS_CPU
    from lion_search.search.jobs import FIT_TO_MEMORY, EvalSpec, Job, Scoring
    from lion_search.search.ray_pool import RayPool

    spec = EvalSpec(("quadratic",), "constant", (0,), multi_batch=FIT_TO_MEMORY)
    pool = RayPool(spec, workers=1, batch_size=4, address="local")
    try:
        texts = [str(load_program(name)) for name in ("adamw", "lion", "sgd")]
        jobs = [Job(i, texts[i % 3], Scoring(("quadratic",), (math.inf,))) for i in range(20)]
        pool.submit(jobs)
        done = []
        while len(done) < len(jobs):
            done += pool.wait(timeout=60)
        assert pool.batch_size == MOST_PROGRAMS_CPU
        assert pool.capacity == 2 * MOST_PROGRAMS_CPU
        assert sorted(d.id for d in done) == list(range(20))
        assert all(d.status == "ok" and math.isfinite(d.fitness) for d in done)
    finally:
        pool.close()
        ray.shutdown()
