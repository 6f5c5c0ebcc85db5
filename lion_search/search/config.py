"""The settings of a search, in one record: stored in the run journal, so a resumed run is the
same run, and checked before anything starts (each bad value is one line naming what is allowed).
"""
from __future__ import annotations

import dataclasses
import functools
import os
from dataclasses import dataclass, field

from lion_search.analysis.equivalence import Equivalence
from lion_search.evaluation.lr_sweep import DEFAULT_GRID
from lion_search.evaluation.portfolio import resolve_tasks
from lion_search.evaluation.tasks import get_task, task_names
from lion_search.language.errors import LionSearchError
from lion_search.runs.references import load_program
from lion_search.runs.verdict import PROMOTED_SCORES
from lion_search.search.mutate import MutationWeights
from lion_search.search.population import RestartSource
from lion_search.search.promotion import (
    MAX_GROWTH,
    PROMOTION_GRID,
    PROMOTION_SHARE,
    PROMOTION_TRIALS,
    stage_b_tasks,
)

# The task a search is scored on: the proxy whose ranking of 56 programs agrees best with the
# funnel's stage B and C tasks among those a 2,000-evaluation search can afford in 5 minutes on
# 2 cores (Kendall tau +0.55 against the mean target rank; BENCHMARKS section 14).
DEFAULT_TASK = "digits-mlp-b512"
# Promotion and meta-validation rounds come every 5% / 10% of the budget, but at least every
# EVERY_AT_MOST evaluations, so that a run with a huge budget and a time limit has rounds too.
EVERY_AT_MOST = 1000
PROMOTED_SEED = ("join", "off")  # what a promoted program that beats all promoted so far does
# Training seeds, in disjoint ranges: the search draws its children's seeds from range(seed_pool)
# (below SEED_POOL_LIMIT); promotion and the held-back check use seeds that no search trains on.
SEED_POOL_LIMIT = 10_000
PROMOTION_SEEDS = (10_000, 10_001)
HELD_BACK_SEEDS = (20_000, 20_001, 20_002)


def default_workers() -> int:
    """One worker per core that this process may run on: the workers are threads of the
    search process, and one per core makes the default run fastest (BENCHMARKS.md, section 9)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


@dataclass(frozen=True)
class EvolveConfig:
    """Every setting of a search; stored in the run journal, so a resumed run is the same run.

    The derived settings (tasks, metaval, promotion) read the portfolio and stage files once:
    the search asks for them after every result."""

    task: str = DEFAULT_TASK        # a task, tasks joined by commas, or a portfolio name
    schedule: str = "warmup_cosine"
    # With a seed panel, the seeds the seeds' lr is calibrated on (within it); without one
    # (seed_pool 0, runs journaled before panels), every child's training seeds.
    seeds: tuple[int, ...] = (0, 1)
    seed_pool: int = 32             # programs train on seeds of range(seed_pool), the epoch's
                                    # (`search.instances`)
    fitness_seeds: int = 1          # seeds of an epoch: what a new program trains on
    rotate_every: int = 500         # evaluations per epoch (0: one epoch, for ever)
    max_seeds: int = 16             # seeds a program's score gathers, one more each epoch
                                    # it is selected or found again (then it is a cache hit)
    reevaluate_parents: bool = True  # a parent not trained on the epoch's seeds is first
    prior_seeds: float = 1.0        # pseudo-seeds at AdamW's score that fitness is shrunk with
    confirm_top: int = 10           # the run's best programs (0: none) that are trained on
    confirm_seeds: int = 4          # this many seeds (at most max_seeds) before the next
                                    # child is proposed
    own_spread: bool = False        # a record measured on confirm_seeds seeds is shrunk by
                                    # its own per-seed variance (`search.instances`; off by
                                    # default: no better in a search, BENCHMARKS 37.3)
    reproduce: bool = False         # a program trained again (as a leader or a parent) is
                                    # first trained on its first seed again at a nudged lr,
                                    # which then scores the worse of its two runs (off by
                                    # default: no gain measured, BENCHMARKS section 23)
    budget: int = 2000
    population: int = 100           # members over all islands
    tournament: int = 2
    islands: int = 4                # populations that evolve apart (`search.islands`)
    migrate_every: int = 500        # evaluations between migrations around the ring of islands
    remutations: int = 10           # times a mutant equivalent to a program seen is mutated
                                    # again before it counts as a cache hit
    equivalence: str = "run"        # an analysis.equivalence.Equivalence: the tensors that tell
                                    # two children apart
    seed_programs: tuple[str, ...] = ("adamw",)
    max_length: int = 32
    max_memory: int = 4
    mutation_weights: MutationWeights = field(default_factory=MutationWeights)
    restart_every: int = 0          # evaluations between restarts from `restart_from`
    restart_from: str = "best"      # a population.RestartSource
    restart_plateau: int = 0        # restart from the best when it has not improved for this
                                    # many evaluations (0: never)
    hurdle: float = 2.0
    lr_grid: tuple[float, ...] = DEFAULT_GRID
    workers: int = field(default_factory=default_workers)
    batch_size: int = 8
    address: str | None = None
    gpus_per_worker: float = 0.0
    population_batch: int = 0       # programs a GPU worker trains at once (population trainer);
                                    # 0: as many as its GPU's memory holds
    rng_seed: int = 0
    deterministic: bool | None = None  # reproducible: proposals in generations, results applied
                                    # in proposal order (None: with one worker; see `reproducible`)
    generation: int = 32            # children proposed per generation of a deterministic run
    metaval_every: int = 0          # 0: every 10% of the budget, at most 1000
    metaval_task: str = "auto"      # auto: the proxy family's 10x task, if any; "none": off
    allow_lr_free: bool = False     # keep children whose update does not grow with lr
    promote_every: int | None = None  # None: 5% of the budget, at most 1000; 0: off
    promote_top: int = 3
    promote_tasks: str = "auto"     # auto: the funnel's stage B tasks; or tasks joined by commas
    promote_grid: tuple[float, ...] = PROMOTION_GRID
    promote_share: float = PROMOTION_SHARE  # a round starts only while promotion used at most
                                            # this share of the training time
    promote_score: str = "worst"    # worst or mean of the per-task log ratios (promotion)
    promote_trials: int = PROMOTION_TRIALS  # tuning trials of the reference (AdamW) per task
    promoted_seed: str = "join"     # join: a new promoted best joins the population; off
    promote_seeds: tuple[int, ...] = PROMOTION_SEEDS   # promotion's training seeds
    promote_growth: int = MAX_GROWTH  # how far a candidate's lr sweep grows past an edge
    screen_tasks: str = "none"      # tasks the leaders are ranked on before promotion, which
                                    # promotes the best of them ("none": by proxy fitness)
    screen_top: int = 12            # leaders a screen ranks per round
    held_back_seeds: tuple[int, ...] = HELD_BACK_SEEDS  # the end-of-run check's (none: off)
    held_back_top: int = 10         # programs the end-of-run check retrains

    def to_json(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, data: dict) -> "EvolveConfig":
        known = {f.name for f in dataclasses.fields(cls)}
        data = {k: v for k, v in data.items() if k in known}
        # Runs journaled before the score had a rule were scored by the mean; they keep it.
        data.setdefault("promote_score", "mean")
        # Runs journaled before seed pools trained every child and promotion on their seeds,
        # without the held-back check; they keep that.
        if "seed_pool" not in data:
            data.update(seed_pool=0, promote_seeds=data.get("seeds", [0]), held_back_seeds=[])
        data.setdefault("promote_growth", 4)     # the first runs with growing sweeps had 4
        data.setdefault("remutations", 0)        # runs from before re-mutation and islands
        data.setdefault("islands", 1)            # propose as they did
        data.setdefault("confirm_top", 0)        # runs from before confirmation keep none
        data.setdefault("equivalence", "probes")  # and before the run's tensors, their key
        # Runs journaled before reproducible runs proposed as results arrived; they keep that.
        data.setdefault("deterministic", False)
        data["mutation_weights"] = MutationWeights(**data.get("mutation_weights", {}))
        for key in ("seeds", "seed_programs", "lr_grid", "promote_grid", "promote_seeds",
                    "held_back_seeds"):
            if key in data:
                data[key] = tuple(data[key])
        return cls(**data)

    def check(self) -> None:
        """Raise LionSearchError (one line) on settings that cannot run."""
        if self.budget <= 0:
            raise LionSearchError(f"--budget must be a positive number of evaluations, got {self.budget}")
        if self.population < 2:
            raise LionSearchError(f"--population must be at least 2, got {self.population}")
        if self.population_batch < 0:
            raise LionSearchError(f"--population-batch must be at least 1 (or 0: fitted to "
                                  f"the GPU's memory), got {self.population_batch}")
        if not 1 <= self.tournament <= self.population:
            raise LionSearchError(f"--tournament must be between 1 and the population "
                                  f"({self.population}), got {self.tournament}")
        if not 0 <= self.seed_pool <= SEED_POOL_LIMIT:
            raise LionSearchError(f"--seed-pool must be between 0 (every child trains on "
                                  f"--seeds) and {SEED_POOL_LIMIT}, got {self.seed_pool}")
        if self.seed_pool:
            if self.rotate_every < 0:
                raise LionSearchError(f"--rotate-every must be at least 0 (0: one epoch), got "
                                      f"{self.rotate_every}")
            if self.prior_seeds < 0:
                raise LionSearchError(f"--prior-seeds must be at least 0, got {self.prior_seeds}")
            if not 1 <= self.fitness_seeds <= self.max_seeds <= self.seed_pool:
                raise LionSearchError(
                    f"seeds per program must satisfy 1 <= --fitness-seeds <= --max-seeds <= "
                    f"--seed-pool, got {self.fitness_seeds}, {self.max_seeds}, {self.seed_pool}")
            if self.confirm_top < 0:
                raise LionSearchError(f"--confirm-top must be at least 0 (0: none), got "
                                      f"{self.confirm_top}")
            if self.confirm_seeds < 1:
                raise LionSearchError(f"--confirm-seeds must be at least 1, got "
                                      f"{self.confirm_seeds}")
            if not all(0 <= s < self.seed_pool for s in self.seeds):
                raise LionSearchError(f"--seeds (the calibration seeds) must lie in the seed "
                                      f"pool 0..{self.seed_pool - 1}, got "
                                      f"{','.join(map(str, self.seeds))}")
        if not self.promote_seeds:
            raise LionSearchError("--promote-seeds needs at least one seed")
        if self.workers < 1:
            raise LionSearchError(f"--workers must be at least 1, got {self.workers}")
        if self.equivalence not in tuple(Equivalence):
            raise LionSearchError(f"--equivalence must be one of {', '.join(Equivalence)}, "
                                  f"got {self.equivalence!r}")
        if self.restart_from not in tuple(RestartSource):
            raise LionSearchError(f"--restart-from must be one of "
                                  f"{', '.join(RestartSource)}, got {self.restart_from!r}")
        for flag, value in (("--restart-every", self.restart_every),
                            ("--restart-plateau", self.restart_plateau),
                            ("--remutations", self.remutations),
                            ("--migrate-every", self.migrate_every)):
            if value < 0:
                raise LionSearchError(f"{flag} must be at least 0 (0: never), got {value}")
        if self.islands < 1:
            raise LionSearchError(f"--islands must be at least 1, got {self.islands}")
        if self.population < 2 * self.islands:
            raise LionSearchError(f"--population {self.population} is too small for --islands "
                                  f"{self.islands}: an island needs at least 2 members "
                                  f"(--population >= {2 * self.islands}, or fewer --islands)")
        if self.tournament > self.population // self.islands:
            raise LionSearchError(f"--tournament must be at most an island's population "
                                  f"({self.population // self.islands} with "
                                  f"{self.islands} islands), got {self.tournament}")
        if self.generation < 1:
            raise LionSearchError(f"--generation must be at least 1 child, got {self.generation}")
        for task in self.tasks:
            get_task(task, self.schedule)
        for name in self.seed_programs:
            load_program(name)
        if self.metaval_every < 0:
            raise LionSearchError(f"--metaval-every must be >= 0, got {self.metaval_every}")
        if self.metaval_task not in ("auto", "none"):
            get_task(self.metaval_task, self.schedule)
        if self.promote_every is not None and self.promote_every < 0:
            raise LionSearchError(f"--promote-every must be >= 0 (0 turns promotion off), got "
                                  f"{self.promote_every}")
        if not 0 < self.promote_share <= 1:
            raise LionSearchError(f"--promote-share must be in (0, 1], got {self.promote_share}")
        if self.held_back_top < 1:
            raise LionSearchError(f"--held-back-top must be at least 1, got {self.held_back_top}")
        searched = set(range(self.seed_pool)) if self.pooled else set(self.seeds)
        for flag, seeds in (("--promote-seeds", self.promote_seeds),
                            ("--held-back-seeds", self.held_back_seeds)):
            if searched & set(seeds) and self.pooled:
                raise LionSearchError(f"{flag} must be seeds the search does not train on "
                                      f"(outside its pool 0..{self.seed_pool - 1}), got "
                                      f"{','.join(map(str, seeds))}")
        if self.promote_top < 1:
            raise LionSearchError(f"--promote-top must be at least 1, got {self.promote_top}")
        if self.promote_trials < 1:
            raise LionSearchError(f"--promote-trials must be at least 1, got "
                                  f"{self.promote_trials}")
        if self.promote_score not in PROMOTED_SCORES:
            raise LionSearchError(f"--promote-score must be one of {', '.join(PROMOTED_SCORES)}, "
                                  f"got {self.promote_score!r}")
        if self.promoted_seed not in PROMOTED_SEED:
            raise LionSearchError(f"--promoted-seed must be one of {', '.join(PROMOTED_SEED)}, "
                                  f"got {self.promoted_seed!r}")
        for task in self.promotion[0]:
            get_task(task, self.schedule)
        for task in self.screening:
            get_task(task, self.schedule)
        if set(self.screening) & set(self.tasks + self.promotion[0]):
            raise LionSearchError(f"--screen-tasks must be tasks the search neither trains nor "
                                  f"promotes on ({', '.join(self.tasks + self.promotion[0])}), "
                                  f"got {self.screen_tasks}")
        if self.screening and self.screen_top <= self.promote_top:
            raise LionSearchError(f"--screen-top must be more than --promote-top "
                                  f"({self.promote_top}): the screen picks that many of its "
                                  f"leaders, got {self.screen_top}")

    @property
    def reproducible(self) -> bool:
        """Whether the search is deterministic: its proposals go in generations of `generation`
        children, results apply in proposal order and every decision falls at a count of
        trained evaluations, so that the same settings give the same journal with any number
        of workers. Unless set, a search with one worker is, and one with several is not."""
        return self.workers == 1 if self.deterministic is None else self.deterministic

    def pinned(self) -> "EvolveConfig":
        """These settings with `deterministic` decided (`reproducible`), as a new run journals
        them: a resumed run stays what it was, whatever its --workers."""
        return dataclasses.replace(self, deterministic=self.reproducible)

    @property
    def pooled(self) -> bool:
        """Whether children train on seeds drawn from the pool, scored paired with AdamW on the
        same seeds (else all on `seeds`, the former fitness)."""
        return self.seed_pool > 0

    @functools.cached_property
    def tasks(self) -> tuple[str, ...]:
        """The tasks a candidate is trained on (one, or a portfolio's)."""
        return resolve_tasks(self.task)

    @functools.cached_property
    def metaval(self) -> tuple[str | None, int]:
        """(task, every): where and how often the best-so-far program is meta-validated."""
        task = self.metaval_task
        if task == "auto":
            larger = f"{get_task(self.tasks[0]).family}-10x"
            task = larger if larger in task_names() and larger not in self.tasks else "none"
        every = self.metaval_every or min(max(self.budget // 10, 1), EVERY_AT_MOST)
        return (None if task == "none" else task), every

    @functools.cached_property
    def screening(self) -> tuple[str, ...]:
        """The tasks a promotion round's leaders are screened on (none: no screen)."""
        return () if self.screen_tasks == "none" else resolve_tasks(self.screen_tasks)

    @property
    def trained_on(self) -> tuple[str, ...]:
        """Every task a candidate may be trained on: the search's, and with promotion on, the
        screen's and promotion's."""
        tasks, every = self.promotion
        return tuple(dict.fromkeys(self.tasks + (self.screening + tasks if every else ())))

    @functools.cached_property
    def promotion(self) -> tuple[tuple[str, ...], int]:
        """(tasks, every): where and how often the best programs are promoted (every 0: off)."""
        every = min(max(self.budget // 20, 1), EVERY_AT_MOST) \
            if self.promote_every is None else self.promote_every
        tasks = stage_b_tasks(self.tasks[0]) if self.promote_tasks == "auto" \
            else resolve_tasks(self.promote_tasks)
        return tasks, every
