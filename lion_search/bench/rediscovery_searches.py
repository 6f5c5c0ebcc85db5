"""The searches of the rediscovery benchmark (`bench.rediscovery`): what they search on
(`Plan`, `Settings`), and running them.

For each search seed s = 1..K, one process runs

    lion-search evolve [SEARCH_ARGS] --task PROXY --promote-tasks PROMOTE --seed-programs adamw
        --workers 1 --rng-seed s --budget SEARCH_BUDGET --cpu-limit C --out OUT/seed-s

`parallel` of them at once, so that each search's CPU budget C is its own process's CPU time
(its worker thread included; `evolve --cpu-limit`), measured again from outside when it ends
(the kernel's user + system time of the finished process). A seed whose run ended (finished or
stopped) is not searched again; one that did not (interrupted, killed) is searched again from
the start, since a resumed session would have a CPU budget of its own. AdamW's promotion
references are tuned once before the searches start (the tuning studies they share), so that
no search spends its CPU budget on them.
"""
from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, NamedTuple

from lion_search.bench.speed import lion_search_command
from lion_search.evaluation.tasks import get_task
from lion_search.language.errors import LionSearchError
from lion_search.runs.journal import JOURNAL, RunStore
from lion_search.search.config import EvolveConfig
from lion_search.search.promotion import tune_references

SEARCH_SEEDS = 4          # K: search seeds 1..K
CPU_LIMIT = 1800.0        # CPU seconds of each search's process
PARALLEL = 2              # searches at once
TRIALS = 32               # tuning trials of each side on the test task
SEARCH_BUDGET = 1_000_000  # evolve's --budget: a cap the CPU limit reaches first
# The evolve settings each search's command sets (`evolve_command`): --search-args may not.
BENCH_SETS = ("task", "promote_tasks", "seed_programs", "workers", "rng_seed", "budget",
              "cpu_limit", "out", "force", "resume")
SEED_PROGRAM = "adamw"
ENDED = ("finished", "stopped")   # run states of a search that ran to its end
SETTINGS_FILE = "settings.json"


class Plan(NamedTuple):
    """Where the searches climb (`proxy`), what they promote to (`promote_tasks`, joined by
    commas; "auto": the funnel's stage B) and the held-out task the found programs are tested
    on (`test_task`)."""

    proxy: str
    promote_tasks: str
    test_task: str


# The test task is held out from promotion as from the proxy: on digits, promotion goes to the
# funnel's stage B less digits-mlp-10x, the test task (a claim of "better" is made on tasks the
# search did not see).
PLANS = {"text-lm-micro": Plan("text-lm-micro", "text-lm-mini", "text-lm-10x"),
         "digits-mlp-b512": Plan("digits-mlp-b512", "digits-cnn,text-lm-mini", "digits-mlp-10x")}


def rediscovery_plan(proxy: str, promote_tasks: str | None = None,
                     test_task: str | None = None) -> Plan:
    """The plan of a known proxy (PLANS), with either task set otherwise where given; another
    proxy promotes to the funnel's stage B and needs `test_task`."""
    known = PLANS.get(proxy)
    test = test_task or (known.test_task if known else None)
    if test is None:
        raise LionSearchError(f"--proxy {proxy} needs --test-task (the held-out task the found "
                              f"programs are tested on); known proxies: {', '.join(PLANS)}")
    plan = Plan(proxy, promote_tasks or (known.promote_tasks if known else "auto"), test)
    for task in (plan.proxy, plan.test_task):
        get_task(task)
    return plan


@dataclass(frozen=True)
class Settings:
    """A rediscovery benchmark: `searches` search seeds (1..K) on `plan`, each with `cpu_limit`
    CPU seconds and the evolve arguments `search_args` (the search settings under test),
    `parallel` at once; each side tuned with `trials` trials on the test task."""

    plan: Plan
    searches: int = SEARCH_SEEDS
    cpu_limit: float = CPU_LIMIT
    parallel: int = PARALLEL
    trials: int = TRIALS
    search_args: tuple[str, ...] = ()

    def check(self) -> None:
        """One line for a value that cannot run."""
        if self.searches < 1:
            raise LionSearchError(f"--searches must be at least 1, got {self.searches}")
        if not self.cpu_limit > 0:
            raise LionSearchError(f"--cpu-limit must be a positive number of seconds, got "
                                  f"{self.cpu_limit}")
        if self.parallel < 1:
            raise LionSearchError(f"--parallel must be at least 1, got {self.parallel}")
        if self.trials < 1:
            raise LionSearchError(f"--trials must be at least 1, got {self.trials}")

    @property
    def seeds(self) -> range:
        return range(1, self.searches + 1)

    def searched(self) -> dict:
        """What a search's run depends on (a folder searched otherwise is not reused; folders
        searched before search arguments existed had none)."""
        return {"plan": self.plan._asdict(), "cpu_limit": self.cpu_limit,
                "budget": SEARCH_BUDGET, "seed_program": SEED_PROGRAM,
                **({"search_args": list(self.search_args)} if self.search_args else {})}

    def to_json(self) -> dict:
        return {**dataclasses.asdict(self), "plan": self.plan._asdict(),
                "budget": SEARCH_BUDGET}


class SearchProcess(NamedTuple):
    """One search's process: its exit status, CPU seconds (user + system, from the kernel's
    accounting of the finished process) and wall seconds."""

    seed: int
    exit_code: int
    cpu_seconds: float
    wall_seconds: float


def run_folder(out: Path, seed: int) -> Path:
    return out / f"seed-{seed}"


def evolve_command(settings: Settings, seed: int, folder: Path) -> list[str]:
    """The `lion-search evolve` command of search seed `seed`."""
    plan = settings.plan
    # the search arguments first: where they name a setting the benchmark sets, its wins
    return [*lion_search_command(), "evolve", *settings.search_args, "--task", plan.proxy,
            "--promote-tasks", plan.promote_tasks, "--seed-programs", SEED_PROGRAM, "--workers",
            "1", "--rng-seed", str(seed), "--budget", str(SEARCH_BUDGET), "--cpu-limit",
            f"{settings.cpu_limit:g}", "--out", str(folder), "--force"]


def has_ended(folder: Path) -> bool:
    """Whether the run in `folder` searched to its end (its budget or CPU limit)."""
    if not (folder / JOURNAL).is_file():
        return False
    store = RunStore.open(folder)
    try:
        return store.state() in ENDED
    finally:
        store.close()


def claim_out_folder(out: Path, settings: Settings) -> None:
    """Make `out` hold this benchmark: record what its searches depend on, or refuse (one
    line) a folder whose searches ran otherwise."""
    out.mkdir(parents=True, exist_ok=True)
    path = out / SETTINGS_FILE
    wanted = settings.searched()
    if path.is_file():
        held = json.loads(path.read_text())
        if held != wanted:
            differ = ", ".join(f"{k} {held.get(k)} (now {v})" for k, v in wanted.items()
                               if held.get(k) != v)
            raise LionSearchError(f"{out} holds a rediscovery benchmark searched otherwise: "
                                  f"{differ}; give another --out")
    path.write_text(json.dumps(wanted, indent=1))


def prepare_references(plan: Plan, progress: Callable[[str], None]) -> None:
    """Tune AdamW on the promotion tasks as the searches' promotion does (kept in the tuning
    studies), before any search starts."""
    config = EvolveConfig(task=plan.proxy, promote_tasks=plan.promote_tasks)
    tasks, _ = config.promotion
    tune_references(tasks, config.promote_seeds, config.promote_trials, progress)


def process_record(out: Path, seed: int) -> Path:
    return out / f"search-{seed}.json"


def launch(settings: Settings, out: Path, todo: list[int],
           running: dict[int, tuple[subprocess.Popen, float]], done: dict[int, SearchProcess],
           progress: Callable[[str], None]) -> None:
    """Run the searches of `todo`, `settings.parallel` at once, until all have ended: each
    running one in `running` (its process and start), each ended one's record in `done` and
    OUT/search-s.json."""
    while todo or running:
        while todo and len(running) < settings.parallel:
            seed = todo.pop(0)
            (out / f"simplified-{seed}.py").unlink(missing_ok=True)   # of an earlier run
            with open(out / f"search-{seed}.log", "w") as log:
                running[seed] = (subprocess.Popen(
                    evolve_command(settings, seed, run_folder(out, seed)), stdout=log,
                    stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL), time.monotonic())
        progress(f"searching: seed(s) {', '.join(map(str, running))} running, "
                 f"{len(done)} done, {len(todo)} to go ({settings.cpu_limit:g} CPU s each)")
        for seed, (process, started) in list(running.items()):
            pid, status, usage = os.wait4(process.pid, os.WNOHANG)
            if pid == 0:
                continue
            process.returncode = os.waitstatus_to_exitcode(status)
            done[seed] = SearchProcess(seed, process.returncode,
                                       usage.ru_utime + usage.ru_stime,
                                       time.monotonic() - started)
            process_record(out, seed).write_text(json.dumps(done[seed]._asdict()))
            del running[seed]
        time.sleep(0.5 if running else 0)


def run_searches(settings: Settings, out: Path, progress: Callable[[str], None] = lambda m: None
                 ) -> dict[int, SearchProcess]:
    """Run the searches whose runs have not ended, `settings.parallel` at once (each writes
    its output to OUT/search-s.log); each one's process record, also of those run before (from
    OUT/search-s.json). A search that fails is one error line after the others end."""
    claim_out_folder(out, settings)
    todo = [s for s in settings.seeds if not has_ended(run_folder(out, s))]
    if todo:
        prepare_references(settings.plan, progress)
    running: dict[int, tuple[subprocess.Popen, float]] = {}
    done: dict[int, SearchProcess] = {}
    try:
        launch(settings, out, todo, running, done, progress)
    finally:    # interrupted: the searches stop as at Ctrl-C (and are searched again)
        for process, _ in running.values():
            process.terminate()
        for process, _ in running.values():
            process.wait()
    failed = [p for p in done.values() if p.exit_code != 0]
    if failed:
        raise LionSearchError(
            "search(es) failed: " + ", ".join(f"seed {p.seed} (exit {p.exit_code}, see "
                                              f"{out}/search-{p.seed}.log)" for p in failed))
    records = {}
    for seed in settings.seeds:
        path = process_record(out, seed)
        records[seed] = done.get(seed) or (SearchProcess(**json.loads(path.read_text()))
                                           if path.is_file() else None)
    return records
