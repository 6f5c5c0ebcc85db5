"""Proxy tasks: every task builds and evaluates, batches are deterministic, data splits and
schedules are right, sizes scale by about 10x, and bad names are one-line TaskErrors."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lion_search.evaluation.tasks import (
    TaskInfo,
    get_task,
    schedule_names,
    task_names,
    task_table,
)
from lion_search.language.errors import TaskError
from proxy_tasks import TASK_BUILDERS, nn
from proxy_tasks.data import digits, text_corpus
from proxy_tasks.schedules import make_schedule

SMALL_TASKS = [name for name in task_names() if get_task(name).scale != "100x"]
BIG_TASKS = [name for name in task_names() if get_task(name).scale == "100x"]
KEY = jax.random.PRNGKey(0)


def finite(tree) -> bool:
    return all(bool(jnp.all(jnp.isfinite(leaf))) for leaf in jax.tree.leaves(tree))


def test_names_cover_the_families_and_sizes():
    names = task_names()
    for family in ("digits-mlp", "digits-cnn", "text-lm"):
        assert {family, f"{family}-10x", f"{family}-100x"} <= set(names)
    assert {"quadratic", "rosenbrock", "logreg"} <= set(names)
    assert names[0] == "digits-mlp"
    assert set(names) == set(TASK_BUILDERS)
    assert schedule_names() == [
        "warmup_cosine",
        "constant",
        "exponential",
        "power",
        "piecewise",
        "onecycle",
    ]


@pytest.mark.parametrize("name", SMALL_TASKS)
def test_task_evaluates_to_finite_values(name):
    task = get_task(name)
    assert task.name == name and task.steps > 0 and task.description
    params = jax.jit(task.init_params)(KEY)
    assert all(leaf.dtype == jnp.float32 for leaf in jax.tree.leaves(params))
    assert sum(leaf.size for leaf in jax.tree.leaves(params)) == task.n_params
    batch = jax.jit(task.get_batch)(KEY, jnp.int32(3))
    assert jax.tree.map(lambda a: (a.shape, a.dtype), batch) == jax.tree.map(
        lambda a: (a.shape, a.dtype), task.batch_shapes()
    )
    loss, grads = jax.jit(jax.value_and_grad(task.loss))(params, batch)
    val = jax.jit(task.val_loss)(params, KEY)
    assert loss.shape == () and val.shape == ()
    assert finite((loss, grads, val))


@pytest.mark.parametrize("name", BIG_TASKS)
def test_big_task_has_shapes(name):
    task = get_task(name)
    loss = jax.eval_shape(task.loss, task.param_shapes(), task.batch_shapes())
    val = jax.eval_shape(task.val_loss, task.param_shapes(), KEY)
    assert loss.shape == () and val.shape == ()
    assert task.n_params > get_task(task.family).n_params


@pytest.mark.parametrize("name", [n for n in SMALL_TASKS if get_task(n).batch_size > 0])
def test_batches_are_deterministic_per_key_and_step(name):
    task = get_task(name)
    get_batch = jax.jit(task.get_batch)
    first = get_batch(KEY, jnp.int32(5))
    again = get_batch(KEY, jnp.int32(5))
    other_step = get_batch(KEY, jnp.int32(6))
    other_key = get_batch(jax.random.PRNGKey(1), jnp.int32(5))
    leaves = jax.tree.leaves
    assert all(np.array_equal(a, b) for a, b in zip(leaves(first), leaves(again), strict=True))
    assert not np.array_equal(leaves(first)[0], leaves(other_step)[0])
    assert not np.array_equal(leaves(first)[0], leaves(other_key)[0])
    assert all(leaf.shape[0] == task.batch_size for leaf in leaves(first))


def test_batch_and_loss_run_inside_one_scan():
    task = get_task("digits-mlp")
    params = task.init_params(KEY)

    @jax.jit
    def losses(key):
        return jax.lax.scan(
            lambda c, t: (c, task.loss(params, task.get_batch(key, t))), 0, jnp.arange(4)
        )[1]

    eager = [task.loss(params, task.get_batch(KEY, jnp.int32(t))) for t in range(4)]
    np.testing.assert_allclose(losses(KEY), eager, rtol=1e-5)


def test_deterministic_objectives_take_an_empty_batch():
    for name in ("quadratic", "rosenbrock"):
        task = get_task(name)
        assert task.batch_size == 0 and task.get_batch(KEY, jnp.int32(0)) == ()
        params = task.init_params(KEY)
        assert float(task.loss(params, ())) == float(task.val_loss(params, KEY))


def test_digits_data_and_initial_loss():
    data = digits()
    assert data.x.shape == (1797, 64) and data.n_train == 1437
    assert set(np.unique(data.y)) == set(range(10))
    assert 0.0 <= data.x.min() and data.x.max() <= 1.0
    task = get_task("digits-mlp")
    assert task.n_params == 64 * 64 + 64 + 64 * 10 + 10
    assert abs(float(task.val_loss(task.init_params(KEY), KEY)) - math.log(10)) < 0.7


def test_each_run_draws_its_own_digits_split_and_trains_only_on_it():
    """A training seed varies the train/validation split as it varies the batch order: a run
    never trains on an example it validates on, and two data keys validate on different sets."""
    data = digits()
    n, n_train = len(data.y), data.n_train

    def split(data_key):
        order = np.asarray(nn.permuted(nn.run_split(data_key), jnp.arange(n), n))
        return set(order[:n_train].tolist()), set(order[n_train:].tolist())

    keys = [jax.random.split(jax.random.PRNGKey(seed))[1] for seed in range(3)]
    splits = [split(k) for k in keys]
    for train, val in splits:
        assert len(train) == n_train and len(val) == n - n_train and not train & val
    assert splits[0][1] != splits[1][1] != splits[2][1]
    ids = jnp.arange(n, dtype=jnp.float32)[:, None]     # each example is its own index
    _, get_batch, _ = nn.classification_fns(lambda p, x: x, ids, jnp.zeros(n, jnp.int32),
                                            n_train, 128)
    seen = {int(i) for t in range(3 * n_train // 128) for i in get_batch(keys[0], jnp.int32(t))[0][:, 0]}
    assert seen == splits[0][0]
    task = get_task("digits-mlp")
    params = task.init_params(KEY)
    assert float(task.val_loss(params, keys[0])) != float(task.val_loss(params, keys[1]))


def test_text_corpus_is_a_byte_vocabulary_split_90_10():
    corpus = text_corpus()
    n = len(corpus.train) + len(corpus.val)
    assert 250_000 < n <= 300_000
    assert len(corpus.val) == n - int(0.9 * n)
    assert len(corpus.vocab) <= 128 and b"\n" in corpus.vocab and b"e" in corpus.vocab
    assert int(corpus.train.max()) < len(corpus.vocab)
    assert bytes(corpus.vocab[i] for i in corpus.train[:12]) == b'The "assert"'


@pytest.mark.parametrize("schedule", schedule_names())
def test_schedules_have_unit_peak(schedule):
    steps = 300
    values = jax.vmap(make_schedule(schedule, steps))(jnp.arange(steps))
    assert float(values.max()) == pytest.approx(1.0, abs=1e-6)
    assert float(values.min()) >= 0.0
    task = get_task("logreg", schedule)
    assert task.schedule_name == schedule
    task_values = jax.jit(jax.vmap(task.schedule))(jnp.arange(task.steps))
    assert float(task_values.max()) == pytest.approx(1.0, abs=1e-6)


def test_schedule_shapes():
    steps = 300

    def values(name):
        return np.asarray(jax.vmap(make_schedule(name, steps))(jnp.arange(steps)))

    cosine = values("warmup_cosine")
    assert cosine[0] == 0.0 and cosine[15] == pytest.approx(1.0) and cosine[-1] < 1e-3
    assert np.all(values("constant") == 1.0)
    assert values("exponential")[-1] == pytest.approx(0.01, rel=0.05)
    assert values("power")[0] == 1.0 and values("power")[-1] < 1e-3
    np.testing.assert_allclose(
        values("piecewise")[[0, 149, 150, 224, 225]], [1, 1, 0.1, 0.1, 0.01], rtol=1e-5
    )
    onecycle = values("onecycle")
    assert onecycle[0] == pytest.approx(1 / 25) and int(onecycle.argmax()) == 90


def test_get_task_is_cached_per_name_and_schedule():
    assert get_task("digits-mlp") is get_task("digits-mlp", "warmup_cosine")
    assert get_task("digits-mlp", "constant") is get_task("digits-mlp", "constant")
    assert get_task("digits-mlp", "constant").init_params is get_task("digits-mlp").init_params


def test_steps_override_stretches_the_schedule_and_keeps_the_problem():
    base = get_task("digits-mlp")
    longer = get_task("digits-mlp", steps=1000)
    assert longer is get_task("digits-mlp", "warmup_cosine", 1000)
    assert get_task("digits-mlp", steps=base.steps) is base
    assert longer.steps == 1000 and longer.init_params is base.init_params
    values = np.asarray(jax.vmap(longer.schedule)(jnp.arange(1000)))
    assert int(values.argmax()) == 50 and values[-1] < 1e-3 and values[299] > 0.5
    with pytest.raises(TaskError, match="steps must be a positive integer, got 0"):
        get_task("digits-mlp", steps=0)


def test_unknown_task_or_schedule_is_a_task_error_listing_the_choices():
    with pytest.raises(TaskError, match=r"unknown task 'foo'; known tasks: digits-mlp, .*logreg"):
        get_task("foo")
    with pytest.raises(
        TaskError, match=r"unknown schedule 'cosine'; known schedules: warmup_cosine, .*onecycle"
    ):
        get_task("digits-mlp", "cosine")
    with pytest.raises(ValueError, match="unknown schedule"):
        make_schedule("cosine", 10)


def test_task_table_sizes_scale_by_ten():
    rows = {row.name: row for row in task_table()}
    assert list(rows) == task_names()
    assert all(
        isinstance(row, TaskInfo) and row.n_params > 0 and row.flops > 0 for row in rows.values()
    )
    for family in ("digits-mlp", "digits-cnn", "text-lm"):
        small, ten, hundred = (rows[family], rows[f"{family}-10x"], rows[f"{family}-100x"])
        assert (small.scale, ten.scale, hundred.scale) == ("1x", "10x", "100x")
        assert 7 < ten.flops / small.flops < 14
        assert 70 < hundred.flops / small.flops < 140
        assert (
            small.steps <= ten.steps <= hundred.steps
            and small.n_params < ten.n_params < hundred.n_params
        )


@pytest.mark.parametrize("name,batch", [("digits-mlp", 16), ("digits-cnn", 1024), ("text-lm", 64)])
def test_batch_override_takes_batches_of_that_size(name, batch):
    base = get_task(name)
    variant = get_task(name, batch_size=batch)
    assert variant is get_task(name, "warmup_cosine", None, batch)
    assert variant.name == name and variant.family == base.family
    assert variant.batch_size == batch and variant.steps == base.steps
    assert variant.description.endswith(f"batch {batch}")
    assert base.description.endswith(f"batch {base.batch_size}")
    assert variant.n_params == base.n_params
    params = variant.init_params(KEY)
    batch_leaves = jax.tree.leaves(jax.jit(variant.get_batch)(KEY, jnp.int32(2)))
    assert all(leaf.shape[0] == batch for leaf in batch_leaves)
    assert all(leaf.shape[0] == batch for leaf in jax.tree.leaves(variant.batch_shapes()))
    loss, grads = jax.jit(jax.value_and_grad(variant.loss))(params, variant.get_batch(KEY, 2))
    assert finite((loss, grads))


def test_a_variant_trains_with_the_requested_batch(capsys, tmp_path, monkeypatch):
    """`eval --batch` trains the variant: its loop sees batches of that shape. (An empty
    folder of traced modules, so that the loop is traced here rather than loaded from disk.)"""
    from lion_search.cli.entry import main

    monkeypatch.setenv("LION_SEARCH_TRACED", str(tmp_path / "traced"))
    task = get_task("digits-mlp", steps=20, batch_size=16)
    seen = []
    get_batch = task.get_batch
    object.__setattr__(task, "get_batch", lambda key, step: seen.append(
        jax.tree.map(lambda a: a.shape, get_batch(key, step))) or get_batch(key, step))
    try:
        assert main(["eval", "adamw", "--vs", "sgd", "--task", "digits-mlp", "--steps", "20",
                     "--batch", "16", "--seeds", "0", "--grid", "0.01",
                     "--plot", str(tmp_path / "p.png")]) == 0
    finally:
        object.__setattr__(task, "get_batch", get_batch)
    assert seen and all(shapes == ((16, 64), (16,)) for shapes in seen)
    assert "batch 16" in capsys.readouterr().out


def test_batch_override_equal_to_the_tasks_own_is_the_task_itself():
    base = get_task("digits-mlp")
    assert get_task("digits-mlp", batch_size=base.batch_size) is base
    assert get_task("digits-mlp", steps=1000, batch_size=128) is get_task("digits-mlp", steps=1000)
    assert get_task("digits-mlp", steps=1000, batch_size=16) is not get_task("digits-mlp",
                                                                             batch_size=16)


@pytest.mark.parametrize(
    "name,batch,message",
    [
        ("digits-mlp", 0, "batch size must be a positive integer, got 0"),
        ("digits-mlp", -3, "batch size must be a positive integer, got -3"),
        ("digits-mlp", 2.5, "batch size must be a positive integer, got 2.5"),
        ("digits-mlp", 5000, "task 'digits-mlp': batch size must be between 1 and the 1437 "
                             "training examples of the digits, got 5000"),
        ("quadratic", 8, "task 'quadratic': it is full-batch; a batch size can be set for"),
        ("logreg", 8, "task 'logreg': its batch is fixed at 64;"),
    ],
)
def test_bad_batch_size_is_a_one_line_task_error(name, batch, message):
    with pytest.raises(TaskError) as info:
        get_task(name, batch_size=batch)
    assert str(info.value).startswith(message) and "\n" not in str(info.value)


def test_eval_cli_rejects_a_bad_batch_in_one_line(capsys):
    from lion_search.cli.entry import main

    assert main(["eval", "adamw", "--task", "quadratic", "--batch", "16"]) == 2
    err = capsys.readouterr().err.strip()
    assert "it is full-batch" in err and "\n" not in err
