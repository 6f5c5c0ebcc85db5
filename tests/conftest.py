"""Shared test helpers: a nested parameter pytree and random gradients with exact zeros,
small runs, and twin programs trained into a journal."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import lion_search
from lion_search.analysis.dedup import dataflow_hash
from lion_search.language.parser import parse_program
from lion_search.runs.journal import JOURNAL, RunStore
from lion_search.search.config import EvolveConfig
from lion_search.search.evolution import Search


def make_params(dtype=jnp.float32):
    """A nested pytree: a matrix, a vector and a 0-d scalar inside dicts, lists and tuples."""
    rng = np.random.default_rng(0)
    return {
        "dense": {"kernel": jnp.asarray(rng.normal(size=(4, 3)), dtype),
                  "bias": jnp.asarray(rng.normal(size=(3,)), dtype)},
        "layers": [jnp.asarray(rng.normal(size=(5,)), dtype),
                   (jnp.asarray(rng.normal(), dtype),)],
    }


def make_big_params(dtype=jnp.float32):
    """A nested pytree whose matrices are large enough for optax to factor (Adafactor) and
    orthogonalize (Muon): a wide and a tall matrix (both dims >= 128), a 3-D tensor whose last
    two axes are its largest, vectors and a 0-d scalar."""
    rng = np.random.default_rng(0)
    return {
        "attention": {"kernel": jnp.asarray(rng.normal(size=(130, 131)), dtype),
                      "bias": jnp.asarray(rng.normal(size=(131,)), dtype)},
        "blocks": [jnp.asarray(rng.normal(size=(140, 130)) / 10, dtype),
                   (jnp.asarray(rng.normal(size=(2, 130, 131)), dtype),
                    jnp.asarray(rng.normal(size=(7,)), dtype),
                    jnp.asarray(rng.normal(), dtype))],
    }


def gradient_sequence(params, steps: int, seed: int = 1):
    """`steps` random gradient pytrees; about 20% of entries are exactly zero, every tenth step
    is zero everywhere, and leaves differ in scale (1e-5 to 1e2) so that eps terms matter."""
    rng = np.random.default_rng(seed)
    leaves, treedef = jax.tree.flatten(params)
    grads = []
    scales = [10.0 ** (2 - 7 * i / max(len(leaves) - 1, 1)) for i in range(len(leaves))]
    for step in range(steps):
        new = []
        for leaf, scale in zip(leaves, scales):
            g = scale * rng.normal(size=leaf.shape) * (rng.random(size=leaf.shape) > 0.2)
            new.append(jnp.asarray(g * (step % 10 != 9), leaf.dtype))
        grads.append(treedef.unflatten(new))
    return grads


def max_relative_error(a, b) -> float:
    """The largest over leaves of ||a - b|| / max(||b||, 1e-6)."""
    errors = jax.tree.map(
        lambda x, y: float(jnp.linalg.norm((x - y).ravel().astype(jnp.float32))
                           / max(float(jnp.linalg.norm(y.ravel().astype(jnp.float32))), 1e-6)),
        a, b)
    return max(jax.tree.leaves(errors))


@pytest.fixture(scope="session", autouse=True)
def session_caches(tmp_path_factory):
    """Tuning studies (evaluation.tuning) and the seeds' canonical forms
    (analysis.canonical_seeds) kept in folders of the session, not the user's cache; set in the
    environment, so that commands run as subprocesses use them too."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("LION_SEARCH_TUNING",
                     str(tmp_path_factory.mktemp("tuning") / "studies.sqlite"))
        patch.setenv("LION_SEARCH_SEED_FORMS", str(tmp_path_factory.mktemp("seed-forms")))
        yield


@pytest.fixture
def params():
    return make_params()


@pytest.fixture(scope="session")
def big_params():
    return make_big_params()


def whole_search(folder, config: EvolveConfig) -> Search:
    """A whole search with `config`, run in `folder` in this process (its store closed)."""
    store = RunStore.create(folder, config.to_json())
    search = Search(store, config)
    search.setup()
    search.load()
    search.run()
    store.close()
    return search


def finished_search(folder, config: EvolveConfig):
    """`folder`, after a whole search with `config` has run there in this process."""
    whole_search(folder, config)
    return folder


@pytest.fixture(scope="module")
def promoted_run(tmp_path_factory):
    """A real search with promotion rounds (100 trained evaluations on the quadratic task,
    promoted to rosenbrock; on quadratic most mutants diverge, and 60 promoted too few to rank),
    made once per test module that reads it: (folder, config)."""
    folder = tmp_path_factory.mktemp("promoted") / "run"
    config = EvolveConfig(task="quadratic", budget=100, population=8, workers=1,
                          promote_every=20, promote_top=2, promote_tasks="rosenbrock",
                          promote_trials=4, seed_programs=("adamw", "sgd"), confirm_top=3)
    finished_search(folder, config)
    return folder, config


def small_run(tmp_path_factory):
    """A real search (40 trained evaluations on the quadratic task), made once per session and
    shared by the test modules that only read it (they copy it before writing to its journal)."""
    folder = tmp_path_factory.getbasetemp() / "small-run"
    if not (folder / JOURNAL).is_file():
        config = EvolveConfig(task="quadratic", budget=40, population=8, workers=1,
                              promote_every=0, seed_programs=("adamw",))
        store = RunStore.create(folder, config.to_json(), force=True)
        search = Search(store, config)
        store.set_state("running")
        search.setup()
        search.load()
        search.run()
        store.set_state("finished")
        store.close()
    return folder


def seeds_with_slow_rest(quick: tuple[str, ...], names: list[str] | None = None) -> list:
    """`names` (default: every seed) as pytest params; those not in `quick` are marked slow, so
    that the default suite checks a representative few and `pytest -m slow` the rest."""
    from lion_search.language.library import seed_names

    return [name if name in quick else pytest.param(name, marks=pytest.mark.slow)
            for name in (names if names is not None else seed_names())]


# A slot that is stored (differently) and read, but only where s == 0, which it never is in
# training: the two train alike, and no fingerprint tells them apart.
TWINS = ["def p(w, g, lr, t, m, s):\n    s = s + 1\n    m = m * 0.9 + g\n"
         "    return lr * where(s, g, m), m, s\n",
         "def p(w, g, lr, t, m, s):\n    s = s + 1\n    m = m + g\n"
         "    return lr * where(s, g, m), m, s\n"]


def journal_trained(store, texts, seeds_of):
    """Journal each program of `texts` as a search child trained on quadratic, really, on its
    `seeds_of` seeds, with its losses as its per-seed scores; their rows."""
    rows = []
    for text, seeds in zip(texts, seeds_of):
        program = parse_program(text)
        result, = lion_search.evaluate(program, task="quadratic", seeds=seeds)
        key = f"key {store.last_program_id()}"     # the journal's fingerprints differ
        pid = store.add_program(text, (dataflow_hash(program), key), None, "test", "child")
        store.add_evaluation(pid, kind="search", fitness=result.fitness, status="ok",
                             task="quadratic", seeds=seeds, seconds=0.1, worker="t",
                             per_seed=dict(zip(seeds, result.per_seed)))
        rows.append(store.program(pid))
    return rows
