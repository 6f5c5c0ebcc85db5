"""Training instances that flip the parameters' axis signs (`NAME+flips`, evaluation.flips):
every seed optimizer trains exactly as on the task itself, a program that leans on the task's
own signs does not, and the name is a task name wherever one is read."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lion_search.cli.entry import main
from lion_search.evaluation import flips
from lion_search.evaluation.fitness import Evaluator
from lion_search.evaluation.portfolio import resolve_tasks
from lion_search.evaluation.tasks import get_task
from lion_search.evaluation.train import train
from lion_search.export.optax_module import to_optax
from lion_search.language import library
from lion_search.language.errors import TaskError
from lion_search.language.parser import parse_program

TASK = "digits-cnn-mini"          # matrices and rank-4 kernels, 0.1 s a training
SEEDS = (0, 1)
DRIFT = "def drift(w, g, lr, t):\n    return lr * (g + 0.1)\n"   # every weight drifts one way


def losses(text: str, task: str, **how) -> list[float]:
    (result,) = Evaluator(get_task(task), SEEDS, **how).evaluate_many([parse_program(text)])
    return list(result.per_seed)


def test_signs_are_one_sign_per_index_of_each_axis_drawn_per_seed():
    shapes = {"k": jnp.zeros((3, 3, 4, 8)), "w": jnp.zeros((6, 5)), "b": jnp.zeros(5),
              "s": jnp.zeros(())}
    d = flips.axis_signs(shapes, jnp.int32(7))
    assert jax.tree.map(jnp.shape, d) == jax.tree.map(jnp.shape, shapes)
    for leaf in jax.tree.leaves(d):
        assert set(np.unique(np.asarray(leaf))) <= {-1.0, 1.0}
    w = np.asarray(d["w"])      # rank one: the sign of a row times the sign of a column
    np.testing.assert_array_equal(w * w[0, 0], np.outer(w[:, 0], w[0, :]))
    k = np.asarray(d["k"])
    np.testing.assert_array_equal(k * k[0, 0, 0, 0], k[:, :1, :1, :1] * k[:1, :, :1, :1]
                                  * k[:1, :1, :, :1] * k[:1, :1, :1, :] * k[0, 0, 0, 0] ** 2)
    again = flips.axis_signs(shapes, jnp.int32(7))
    assert all(np.array_equal(a, b) for a, b in zip(jax.tree.leaves(d), jax.tree.leaves(again)))
    draws = [np.asarray(flips.axis_signs(shapes, jnp.int32(s))["w"]) for s in range(8)]
    assert len({x.tobytes() for x in draws}) == 8
    scalars = {float(flips.axis_signs(shapes, jnp.int32(s))["s"]) for s in range(16)}
    assert scalars == {-1.0, 1.0}    # a 0-d parameter flips too


# Odd entry by entry (adamw, lion) and on rows and columns (muon); every seed program, and the
# population trainer's and optax's exactness, with `-m slow`.
QUICK = ("adamw", "lion", "muon")


@pytest.mark.parametrize("name", [n if n in QUICK else pytest.param(n, marks=pytest.mark.slow)
                                  for n in library.seed_names()])
def test_every_seed_optimizer_trains_exactly_as_on_the_task_itself(name):
    """Their updates commute with the flips (odd entry by entry, or built on rows and
    columns), and multiplying by -1 is exact: the same losses to the bit."""
    text = str(library.read_program(name))
    assert losses(text, TASK + "+flips") == losses(text, TASK)


@pytest.mark.slow
def test_the_population_trainer_and_optax_train_flipped_tasks_alike():
    muon = str(library.read_program("muon"))
    assert losses(muon, "digits-mlp+flips", multi_batch=2) == losses(muon, "digits-mlp",
                                                                     multi_batch=2)
    # optax's loop: the same to float rounding (XLA may fuse the flips into a multiply-add)
    plain, flipped = get_task("digits-mlp"), get_task("digits-mlp+flips")
    tx = to_optax(library.read_program("adamw"), 1e-2, total_steps=plain.steps)
    assert train(flipped, tx, 1).val_loss == pytest.approx(train(plain, tx, 1).val_loss, rel=1e-6)


def test_a_program_that_leans_on_the_tasks_own_signs_trains_otherwise():
    for how in ({}, {"multi_batch": 2}):
        plain, flipped = losses(DRIFT, TASK, **how), losses(DRIFT, TASK + "+flips", **how)
        assert all(abs(a - b) > 1e-3 * a for a, b in zip(plain, flipped))
    tx = to_optax(parse_program(DRIFT), 1e-2, total_steps=get_task(TASK).steps)
    assert train(get_task(TASK + "+flips"), tx, 0).val_loss != train(get_task(TASK), tx, 0).val_loss


def test_a_flipped_task_is_a_task_name_wherever_one_is_read(capsys):
    task = get_task(TASK + "+flips", steps=50)
    assert task.name == TASK + "+flips" and task.flip_signs and task.steps == 50
    assert not get_task(TASK).flip_signs
    assert get_task(TASK + "+flips") is get_task(TASK + "+flips")
    assert resolve_tasks("digits-mlp+flips,quadratic") == ("digits-mlp+flips", "quadratic")
    with pytest.raises(TaskError, match=r"unknown task 'nope\+flips'.*may end in \+flips"):
        get_task("nope+flips")
    with pytest.raises(TaskError, match=r"unknown task 'nope\+flips' in --task"):
        resolve_tasks("nope+flips")
    assert main(["tasks"]) == 0
    assert "+flips" in capsys.readouterr().out
