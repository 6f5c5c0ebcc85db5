"""Start-up: the workers do all training (calibration and meta-validation included), start-up
says what it waits for, and the time to the first trained evaluation is journaled and shown."""
import json
import os
import math
import subprocess
import sys
import threading
from collections import Counter
from concurrent.futures import Future
from pathlib import Path

import lion_search.evaluation.fitness
from lion_search.runs.journal import RunStore
from lion_search.runs.references import load_program
from lion_search.search.config import EvolveConfig, default_workers
from lion_search.search.evolution import Search
from lion_search.search.in_process import InProcessPool
from lion_search.search.jobs import COMPILING, STARTING, EvalSpec, Job, Scoring
from lion_search.search.observer import CALIBRATING, TRAINING, QuietObserver
from lion_search.search.pools import warm_programs
from lion_search.search.promotion import CENTRE_GRID

CLI = [str(Path(sys.executable).parent / "lion-search")]
QUICK = ["--task", "quadratic", "--population", "10", "--workers", "1", "--promote-every", "0"]


def cli(*args):
    return subprocess.run(CLI + list(args), capture_output=True, text=True, timeout=300)


class RecordingPool(InProcessPool):
    """An in-process pool that remembers every job it is sent."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.jobs = []

    def submit(self, jobs):
        self.jobs += jobs
        super().submit(jobs)


class PhaseObserver(QuietObserver):
    def __init__(self):
        self.phases, self.startups = [], []

    def starting(self, phase, stats):
        self.phases.append(phase)

    def started(self, startup):
        self.startups.append(startup)


def started(pool):
    future = Future()
    future.set_result(pool)
    return future


def test_calibration_meta_validation_and_promotion_are_jobs_for_the_workers(tmp_path,
                                                                           monkeypatch):
    built_in = []
    compiled_trainer = lion_search.evaluation.fitness.compiled_trainer
    monkeypatch.setattr(lion_search.evaluation.fitness, "compiled_trainer", lambda *args: (
        built_in.append(threading.current_thread().name), compiled_trainer(*args))[1])
    config = EvolveConfig(task="quadratic", population=10, workers=1, budget=30,
                          promote_every=10, promote_top=1, promote_tasks="rosenbrock",
                          metaval_task="logreg", metaval_every=10)
    pool = RecordingPool(EvalSpec(config.tasks, config.schedule, config.seeds), 1,
                         config.batch_size, warm_programs(config))
    store = RunStore.create(tmp_path / "run", config.to_json())
    search = Search(store, config, pool=started(pool))
    search.setup()
    search.load()
    assert search.run().trained == 30
    by_scoring = Counter(job.scoring for job in pool.jobs)
    assert by_scoring[Scoring(("quadratic",), (math.inf,))] == len(config.lr_grid)
    assert by_scoring[Scoring(("logreg",), (math.inf,))] == store.count("metaval", cached=False) >= 1
    # The seed over the wide grid, then each promoted program at each factor (and more where a
    # sweep grew), on the promotion seeds; AdamW, the reference, is tuned on a thread of its
    # own that starts with the search, so the workers never wait for it.
    assert by_scoring[Scoring(("rosenbrock",), (math.inf,), None, config.promote_seeds)] >= \
        len(CENTRE_GRID) + len(config.promote_grid) * (store.count("promoted") - 1)
    assert store.count("promoted") >= 1 and store.count("promotion-reference") == 1
    assert store.count("calibration") == len(config.lr_grid) and store.count("seed") == 1
    assert built_in and set(built_in) - {"lion-search-reference-tuning"} and all(
        name.startswith("lion-search-worker") or name == "lion-search-reference-tuning"
        for name in built_in)
    assert "MainThread" not in built_in
    store.close()


def test_a_portfolio_trains_the_seed_adamw_and_the_reference_adamw_once(tmp_path):
    config = EvolveConfig(task="quadratic,logreg", population=8, workers=1, budget=8,
                          promote_every=0)
    pool = RecordingPool(EvalSpec(config.tasks, config.schedule, config.seeds), 1,
                         config.batch_size)
    store = RunStore.create(tmp_path / "run", config.to_json())
    search = Search(store, config, pool=started(pool))
    search.setup()
    calibration = [job for job in pool.jobs
                   if len(job.scoring.tasks) == 1 and job.scoring.seeds is None]
    assert len(calibration) == 2 * len(config.lr_grid)   # one job per (program, task)
    # then the calibrated reference on every seed of the panel, once per task
    paired = [s for job in pool.jobs if len(job.scoring.tasks) == 1 and job.scoring.seeds
              for s in job.scoring.seeds]
    assert sorted(paired) == sorted(list(range(config.seed_pool)) * 2)
    assert store.count("reference") == 2 and store.count("seed") == 1
    seed = store.value("seeds")[0]
    assert len(seed["hurdle"]) == 2 and math.isfinite(seed["fitness"])
    search.close()
    store.close()


def test_start_up_phases_are_reported_in_order_and_the_first_evaluation_once(tmp_path):
    config = EvolveConfig(task="quadratic", population=10, workers=1, budget=20,
                          promote_every=0)
    store = RunStore.create(tmp_path / "run", config.to_json())
    observer = PhaseObserver()
    search = Search(store, config, observer)
    search.setup()
    search.load()
    search.run()
    order = [STARTING, COMPILING, CALIBRATING, TRAINING]
    seen = list(dict.fromkeys(observer.phases))
    assert seen == sorted(seen, key=order.index) and seen[-1] == TRAINING
    assert CALIBRATING in seen or COMPILING in seen
    assert len(observer.startups) == 1 and observer.startups[0] == store.value("startup")
    store.close()


def test_a_run_journals_its_first_trained_evaluation_and_show_reports_it(tmp_path):
    out = tmp_path / "run"
    result = cli("evolve", "--budget", "20", *QUICK, "--out", str(out))
    assert result.returncode == 0, result.stderr
    assert "first trained evaluation" in result.stdout
    startup = json.loads(cli("show", str(out), "--json").stdout)["startup"]
    assert startup["workers"] == 1 and startup["pool"] == "in-process"
    assert not startup["resumed"]
    began = [seconds for _, seconds in startup["phases"]]
    assert 0 < began[0] and began == sorted(began)
    assert began[-1] <= startup["first_evaluation_s"]
    assert "start-up: first trained evaluation" in cli("show", str(out)).stdout


def test_two_in_process_workers_train_every_child_once(tmp_path):
    config = EvolveConfig(task="quadratic", population=10, workers=2, budget=40, batch_size=2,
                          promote_every=0)
    store = RunStore.create(tmp_path / "run", config.to_json())
    search = Search(store, config)
    search.setup()
    search.load()
    assert search.run().trained == 40 == store.count("search", cached=False)
    assert max(Counter(e.program for e in store.evaluations("search")).values()) == 1
    assert store.value("startup")["pool"] == "in-process"
    store.close()


def test_the_last_jobs_before_a_wait_are_shared_among_the_worker_threads():
    """Batches of `batch_size` while many jobs are queued, smaller ones when few are, so that
    no thread is left training the end of a generation alone while the other idles."""
    pool = InProcessPool(EvalSpec(("quadratic",), "constant", (0,)), threads=2, batch_size=8)
    text = str(load_program("adamw"))
    jobs = [Job(i, text, Scoring(("quadratic",), (math.inf,))) for i in range(32)]
    pool.submit(jobs[:6])
    assert sorted(map(len, pool.running.values())) == [1, 1, 1, 2]   # four batches, two threads
    pool.submit(jobs[6:])
    done = []
    while len(done) < len(jobs):
        done += pool.wait(timeout=60)
    assert sorted(d.id for d in done) == list(range(32))
    pool.close()


def test_the_default_workers_are_one_per_usable_core():
    assert EvolveConfig().workers == default_workers() >= 1


def test_gpus_are_found_without_starting_jax(monkeypatch):
    import importlib.util

    from lion_search.evaluation import xla

    monkeypatch.delenv("JAX_PLATFORMS", raising=False)
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: object()
                        if name == "jax_cuda12_plugin" else real(name, *a))
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0,1")
    assert xla.visible_gpus() == 2
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "-1")
    assert xla.visible_gpus() == 0
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0")
    monkeypatch.setenv("JAX_PLATFORMS", "cpu")
    assert xla.visible_gpus() == 0
    monkeypatch.setattr(importlib.util, "find_spec", real)
    monkeypatch.delenv("JAX_PLATFORMS")
    if real("jax_cuda12_plugin") is None and real("jax_cuda13_plugin") is None:
        assert xla.visible_gpus() == 0     # no CUDA JAX: no GPU workers


def test_a_search_trains_on_the_gpus_it_finds_unless_told_otherwise(monkeypatch):
    from lion_search import cli
    from lion_search.evaluation import xla

    monkeypatch.setattr(xla, "visible_gpus", lambda: 2)
    assert cli.with_gpu_workers({"budget": 10}) == {"gpus_per_worker": 1.0, "workers": 2,
                                                    "budget": 10}
    assert cli.with_gpu_workers({"workers": 1})["workers"] == 1
    assert cli.with_gpu_workers({"gpus_per_worker": 0.0}) == {"gpus_per_worker": 0.0}
    monkeypatch.setattr(xla, "visible_gpus", lambda: 0)
    assert cli.with_gpu_workers({"budget": 10}) == {"budget": 10}


XLA_THREADS = """
import os, sys
from lion_search.cli.entry import main
status = main(sys.argv[1:])
names = [open(f"/proc/self/task/{t}/comm").read().strip() for t in os.listdir("/proc/self/task")]
print(status, names.count("tf_XLAEigen"))
"""


SMALL = ["evolve", "--task", "quadratic", "--population", "10", "--promote-every", "0",
         "--budget", "12", "--held-back-top", "1"]


def xla_threads_after(*args, env=None):
    """The exit status of `lion-search ARGS` run in a fresh process, and how many threads
    XLA's CPU client keeps after it (Linux: /proc names them)."""
    result = subprocess.run([sys.executable, "-c", XLA_THREADS, *args], capture_output=True,
                            text=True, timeout=300, env=env)
    assert result.returncode == 0, result.stderr
    return tuple(map(int, result.stdout.split()[-2:]))


def test_xla_thread_pool_is_as_large_as_the_workers_that_train(tmp_path):
    """A pool larger than the computations in flight spins (BENCHMARKS 18.6): evolve sizes
    it to its worker threads, whatever the machine's cores, unless the user chose (NPROC)."""
    assert xla_threads_after(*SMALL, "--workers", "3", "--out", str(tmp_path / "three")) == (0, 3)
    assert xla_threads_after(*SMALL, "--workers", "1", "--out", str(tmp_path / "one")) == (0, 1)
    chosen = {**os.environ, "NPROC": "2"}
    assert xla_threads_after(*SMALL, "--workers", "3", "--out", str(tmp_path / "user"),
                             env=chosen) == (0, 2)


ASYNC_DISPATCH = """
import sys
from lion_search.cli.entry import main
status = main(sys.argv[1:])
import jax
print(status, jax.config.values["jax_cpu_enable_async_dispatch"])
"""


def test_probes_run_without_queueing_behind_the_trainings(tmp_path):
    """The search thread's probes do not queue behind the worker threads' trainings
    (BENCHMARKS 18.7): evolve turns JAX's asynchronous CPU dispatch off."""
    result = subprocess.run([sys.executable, "-c", ASYNC_DISPATCH, *SMALL, "--out",
                             str(tmp_path / "run")], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split()[-2:] == ["0", "False"]


def test_commands_started_by_lion_search_size_their_own_xla_pool(tmp_path):
    """`bench --workers` and `bench --rediscovery` start evolve commands, which inherit the
    size this process set for itself, and size their pool again."""
    inherited = {**os.environ, "NPROC": "1", "LION_SEARCH_XLA_THREADS": "1"}
    assert xla_threads_after(*SMALL, "--workers", "3", "--out", str(tmp_path / "run"),
                             env=inherited) == (0, 3)
