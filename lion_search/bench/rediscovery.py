"""The rediscovery rate (`lion-search bench --rediscovery`): how often a search from AdamW alone
finds an optimizer of new structure that closes at least half of the gap between fully tuned
AdamW and fully tuned Muon on a held-out task (BENCHMARKS 15.2 as one command; issue 28).

The searches: K search seeds, each one `lion-search evolve` process with a CPU budget of its
own (`bench.rediscovery_searches`).

The test. Each seed's RUN:best (its best by promoted score) is simplified as `lion-search
simplify RUN:best` does (dead code, exact rewrites, then ablation on the run's own proxy and
seeds within 1%), saved as OUT/simplified-s.py, and related to the seed programs
(`analysis.retune`: a retune of a seed, or new structure; RUN:best as journaled is related too,
and shown beside it, since ablation can change what a program is). It is then tuned on the
held-out TEST task exactly as `lion-search tune OUT/simplified-s.py --task TEST --trials N
--seeds 0,1 --tune-constants 4` tunes it (its lr and its 4 most sensitive constants), and AdamW
and Muon as `lion-search tune adamw --task TEST --trials N --seeds 0,1` does (the lr and all
their hyperparameters): the same Optuna studies, so each is trained once. The six tunings run
as those commands, `parallel` at once (`bench.rediscovery_tunings`), before they are read. With L the tuned
validation loss (the best trial's mean over the tuning seeds),

    gap closed  g = (L_adamw - L_program) / (L_adamw - L_muon)

so g = 1 matches tuned Muon, g = 0 tuned AdamW, and g < 0 is worse than AdamW; per training
seed the same with that seed's losses (of each side's best trial). g is undefined (nan) when
tuned Muon does not beat tuned AdamW, and -inf when the program's training failed. A seed
succeeds when its simplified RUN:best is new structure and g >= SUCCESS (0.5), and RUN:best as
the search found it is new structure too: a seed program that ablation alone turned into new
structure (ablation drops instructions while the proxy allows) is not the search's find. The
rate is the share of seeds that succeed.

Beside it, from each run's journal (`bench.rediscovery_history`): when the search first trained
RUN:best (its fingerprint), and its cache hits per window of proposals.
"""
from __future__ import annotations

import dataclasses
import json
import math
import shlex
from pathlib import Path
from typing import Callable, NamedTuple

import numpy as np

from lion_search.analysis.retune import Kind, Relation, relate
from lion_search.bench.rediscovery_history import (
    SETTLED,
    WINDOW,
    Found,
    Window,
    first_found,
    history,
    new_share_after,
    windows,
)
from lion_search.bench.rediscovery_searches import (
    SEED_PROGRAM,
    SearchProcess,
    Settings,
    run_folder,
    run_searches,
)
from lion_search.bench.rediscovery_tunings import TuningJob, run_tunings
from lion_search.evaluation.tasks import get_task
from lion_search.evaluation.tuning import Tuned, TuneSpec, declaration_for, tune
from lion_search.language.errors import LionSearchError
from lion_search.language.parser import parse_program
from lion_search.language.program import Program
from lion_search.runs.journal import EvalKind, RunStore
from lion_search.runs.lock import hold
from lion_search.runs.references import load_program, program_name, run_best
from lion_search.selection.simplify_run import simplify_in_run
from lion_search.selection.untested import untested_warning_in_run

CONSTANTS = 4             # a found program's constants tuned (the most sensitive), as 15.2
TUNING_SEEDS = (0, 1)
SUCCESS = 0.5             # the gap a success closes at least
TARGET = "muon"
REPORT_JSON = "rediscovery.json"
REPORT_MARKDOWN = "rediscovery.md"
COMMAND = "lion-search bench --rediscovery"


# ----------------------------------------------------------------------------- the measures

def gap_closed(adamw: float, target: float, program: float) -> float:
    """(adamw - program) / (adamw - target): the share of the gap between AdamW's loss and the
    target's (Muon's) that the program's loss closes; nan when the target does not beat AdamW,
    -inf when the program's loss is not finite."""
    if not (math.isfinite(adamw) and math.isfinite(target)) or target >= adamw:
        return math.nan
    if not math.isfinite(program):
        return -math.inf
    return (adamw - program) / (adamw - target)


def succeeds(found: Kind, simplified: Kind, gap: float) -> bool:
    """The rule: RUN:best is new structure, as the search found it and simplified, and closes
    at least SUCCESS of the gap."""
    return found is Kind.NEW_STRUCTURE and simplified is Kind.NEW_STRUCTURE and gap >= SUCCESS


# -------------------------------------------------------------------------------- the tests

class Tuning(NamedTuple):
    """One optimizer tuned on the test task: its loss (the best trial's mean over the tuning
    seeds) and per-seed losses, lr, tuned hyperparameters and what the tuning spent."""

    name: str
    loss: float
    per_seed: tuple[float, ...]
    lr: float
    values: dict[str, float]
    budget: str
    trained: int

    @classmethod
    def of(cls, tuned: Tuned) -> "Tuning":
        return cls(tuned.name, tuned.fitness, tuple(tuned.comparison.result.per_seed),
                   tuned.lr, dict(tuned.values), tuned.budget.describe(), tuned.trained)


def tune_like_the_command(source: str, task: str, trials: int, constants: int | None,
                          progress: Callable[[str], None]) -> Tuning:
    """What `lion-search tune SOURCE --task TASK --trials N --seeds 0,1 [--tune-constants K]`
    does (the same call, so the same study)."""
    program = load_program(source)
    return Tuning.of(tune(program, get_task(task), TUNING_SEEDS,
                          TuneSpec(trials=trials, constants=constants),
                          declaration=declaration_for(source, program), progress=progress))


class Baselines(NamedTuple):
    adamw: Tuning
    target: Tuning


def tune_baselines(settings: Settings, progress: Callable[[str], None]) -> Baselines:
    """AdamW and the target (Muon) fully tuned on the test task."""
    return Baselines(*(tune_like_the_command(name, settings.plan.test_task, settings.trials,
                                             None, progress) for name in (SEED_PROGRAM, TARGET)))


def simplified_best(out: Path, seed: int) -> tuple[int, Path]:
    """RUN:best of seed `seed`'s run and the file of its simplified form (OUT/simplified-s.py,
    named after the run and id): simplified as `lion-search simplify RUN:best` does and saved in
    the run, unless that file already holds it."""
    folder = run_folder(out, seed)
    path = out / f"simplified-{seed}.py"
    store = RunStore.open(folder)
    try:
        best = run_best(store)
        if best is None:
            raise LionSearchError(f"run {folder} has no evaluated program: its CPU limit came "
                                  "before its first evaluation")
        header = f"# {folder}:best (#{best.id}) simplified by {COMMAND}\n"
        if path.is_file() and path.read_text().startswith(header):
            return best.id, path
        with hold(folder, COMMAND):
            report, _ = simplify_in_run(store, best.id)
    finally:
        store.close()
    program: Program = dataclasses.replace(report.after, name=program_name(folder, best.id))
    path.write_text(header + str(program).rstrip("\n") + "\n")
    return best.id, path


class SeedOutcome(NamedTuple):
    """One search seed's result (see the module's docstring)."""

    seed: int
    run: str
    best: int                   # RUN:best's program id
    program: str                # RUN:best simplified
    relation: Relation          # of the simplified program (the one tested)
    found_as: Relation          # of RUN:best as the search journaled it
    tuned: Tuning
    gap: float
    gap_per_seed: tuple[float, ...]
    found: Found | None         # when RUN:best's fingerprint was first trained
    trained: int                # trained search evaluations
    proposals: int              # proposed children (cache hits included)
    new_after: float            # new-program share after SETTLED trained evaluations
    windows: tuple[Window, ...]
    process: SearchProcess | None
    untested: str | None        # the simplified program's code its search never trained

    @property
    def success(self) -> bool:
        return succeeds(self.found_as.kind, self.relation.kind, self.gap)

    @property
    def hit_rate(self) -> float:
        """The share of proposed children that were cache hits."""
        return sum(w.hits for w in self.windows) / self.proposals if self.proposals else math.nan

    def to_json(self) -> dict:
        return {"seed": self.seed, "run": self.run, "best": self.best, "program": self.program,
                "relation": self.relation.to_json(), "found_as": self.found_as.to_json(),
                "tuned": self.tuned._asdict(),
                "gap_closed": self.gap, "gap_closed_per_seed": list(self.gap_per_seed),
                "success": self.success, "hit_rate": self.hit_rate,
                "found": None if self.found is None else self.found._asdict(),
                "trained": self.trained, "proposals": self.proposals,
                "new_share_after_settled": self.new_after,
                "windows": [{**w._asdict(), "hit_rate": w.hit_rate, "new_share": w.new_share,
                             "equivalent_share": w.equivalent_share} for w in self.windows],
                "process": None if self.process is None else self.process._asdict(),
                "untested": self.untested}


def assess_seed(out: Path, seed: int, settings: Settings, baselines: Baselines,
                process: SearchProcess | None, progress: Callable[[str], None]) -> SeedOutcome:
    """Simplify seed `seed`'s RUN:best, relate it, tune it on the test task, and read its run's
    history from the journal."""
    best, path = simplified_best(out, seed)
    program = load_program(str(path))
    tuned = tune_like_the_command(str(path), settings.plan.test_task, settings.trials,
                                  CONSTANTS, progress)
    a, m = baselines
    gap = gap_closed(a.loss, m.loss, tuned.loss)
    per_seed = tuple(gap_closed(*losses) for losses in zip(a.per_seed, m.per_seed,
                                                           tuned.per_seed))
    store = RunStore.open(run_folder(out, seed))
    try:
        proposals = history(store)
        row = store.program(best)
        trained = store.count(EvalKind.SEARCH, cached=False)
        untested = untested_warning_in_run(store.config, program)
    finally:
        store.close()
    return SeedOutcome(seed, str(run_folder(out, seed)), best, str(program), relate(program),
                       relate(parse_program(row.text)), tuned, gap, per_seed,
                       first_found(proposals, row.fingerprint), trained,
                       sum(r.kind is EvalKind.SEARCH and r.mutant for r in proposals),
                       new_share_after(proposals), windows(proposals), process, untested)


class Report(NamedTuple):
    """The benchmark's result."""

    settings: Settings
    baselines: Baselines
    outcomes: tuple[SeedOutcome, ...]

    @property
    def successes(self) -> int:
        return sum(o.success for o in self.outcomes)

    @property
    def rate(self) -> float:
        return self.successes / len(self.outcomes)

    def to_json(self) -> dict:
        return {"settings": {**self.settings.to_json(), "tuning_seeds": list(TUNING_SEEDS),
                             "constants": CONSTANTS, "success": SUCCESS, "window": WINDOW,
                             "settled": SETTLED},
                "baselines": {k: v._asdict() for k, v in self.baselines._asdict().items()},
                "successes": self.successes, "searches": len(self.outcomes),
                "success_rate": self.rate, "seeds": [o.to_json() for o in self.outcomes]}


def rediscovery(settings: Settings, out: Path,
                progress: Callable[[str], None] = lambda msg: None) -> Report:
    """Run the searches not run yet, then test every seed's RUN:best; the report, also written
    to OUT/rediscovery.json and OUT/rediscovery.md."""
    settings.check()
    processes = run_searches(settings, out, progress)
    jobs = [TuningJob(name, name, None) for name in (SEED_PROGRAM, TARGET)]
    for seed in settings.seeds:
        progress(f"seed {seed}: simplifying RUN:best")
        jobs.append(TuningJob(f"seed-{seed}", str(simplified_best(out, seed)[1]), CONSTANTS))
    run_tunings(jobs, settings.plan.test_task, settings.trials, TUNING_SEEDS, settings.parallel,
                out, progress)
    baselines = tune_baselines(settings, progress)
    report = Report(settings, baselines, tuple(
        assess_seed(out, s, settings, baselines, processes[s], progress) for s in settings.seeds))
    (out / REPORT_JSON).write_text(json.dumps(report.to_json(), indent=1))
    (out / REPORT_MARKDOWN).write_text(markdown(report, out))
    return report


# ------------------------------------------------------------------------------- the text

def share_text(x: float) -> str:
    return "n/a" if math.isnan(x) else f"{100 * x:.0f}%"


def loss_text(t: Tuning) -> str:
    """'1.879 (1.885, 1.874)': the mean and each tuning seed's."""
    return f"{t.loss:.4g} ({', '.join(f'{x:.4g}' for x in t.per_seed)})"


def found_text(o: SeedOutcome) -> str:
    """When RUN:best's fingerprint was first trained."""
    if o.found is None:
        return "never trained"
    if o.found.trained == 0:
        return "a seed program"
    return f"#{o.found.trained:,} of {o.trained:,} ({o.found.seconds / 60:.0f} min)"


def summary_line(report: Report) -> str:
    """The rate, and when the successes' winners were first trained."""
    found = [o.found.trained for o in report.outcomes if o.success and o.found]
    when = (f"; the winners first trained at evaluation {', '.join(f'{n:,}' for n in found)}"
            f" (median {np.median(found):,.0f})") if found else ""
    plan = report.settings.plan
    return (f"{report.successes} of {len(report.outcomes)} search seeds succeed "
            f"({share_text(report.rate)}): RUN:best is new structure, as found and simplified, "
            f"and closes at least {share_text(SUCCESS)} of the gap between tuned {SEED_PROGRAM} "
            f"and tuned {TARGET} on {plan.test_task}{when}")


def command_line(settings: Settings, out: Path) -> str:
    """The command that runs (or reports again) this benchmark."""
    plan = settings.plan
    return (f"{COMMAND} --proxy {plan.proxy} --promote-tasks {plan.promote_tasks} --test-task "
            f"{plan.test_task} --searches {settings.searches} --cpu-limit "
            f"{settings.cpu_limit:g} --parallel {settings.parallel} --trials {settings.trials} "
            + (f"--search-args={shlex.quote(shlex.join(settings.search_args))} "
               if settings.search_args else "") + f"--out {out}")


def markdown(report: Report, out: Path) -> str:
    """The report as markdown: the command's settings, the baselines, a row per seed, each
    seed's program, and the cache hits per window."""
    s, (a, m) = report.settings, report.baselines
    lines = [f"# Rediscovery: {s.plan.proxy} -> {s.plan.test_task}", "",
             f"{s.searches} search seeds from {SEED_PROGRAM} on {s.plan.proxy} (promotion to "
             f"{s.plan.promote_tasks}), {s.cpu_limit:g} CPU s each, {s.parallel} at once; "
             f"tested on {s.plan.test_task}, each side tuned with {s.trials} trials x seeds "
             f"{','.join(map(str, TUNING_SEEDS))} (found programs: the lr and {CONSTANTS} "
             "constants).", "", f"`{command_line(report.settings, out)}`", "",
             summary_line(report), "",
             "| optimizer | val loss (per seed) | lr | tuning |", "|---|---|---:|---|",
             *(f"| {t.name} | {loss_text(t)} | {t.lr:.3g} | {t.budget} |" for t in (a, m)), "",
             "| seed | RUN:best | what it is | val loss (per seed) | gap closed (per seed) | "
             f"success | first trained | trained | cache hits | new after {SETTLED:,} | CPU s |",
             "|---:|---:|---|---|---|---|---|---:|---:|---:|---:|"]
    for o in report.outcomes:
        lines.append(
            f"| {o.seed} | #{o.best} | {o.relation.headline} | {loss_text(o.tuned)} | "
            f"{share_text(o.gap)} ({', '.join(map(share_text, o.gap_per_seed))}) | "
            f"{'yes' if o.success else 'no'} | {found_text(o)} | {o.trained:,} | "
            f"{share_text(o.hit_rate)} | {share_text(o.new_after)} | "
            f"{'' if o.process is None else f'{o.process.cpu_seconds:.0f}'} |")
    for o in report.outcomes:
        lines += ["", f"Seed {o.seed}, {o.run}:best (#{o.best}; as found: "
                      f"{o.found_as.headline}) simplified, {o.relation.headline}, gap closed "
                      f"{share_text(o.gap)}:", "", "```python", o.program, "```"]
        if o.untested:
            lines += ["", f"Warning: {o.untested}."]
    lines += ["", f"Cache hits per {WINDOW:,} proposed mutants (in brackets: the share of "
                  "proposals that trained a new program; the share of all mutants generated, "
                  "re-mutated ones included, that were equivalent to a program seen):", ""]
    lines += [f"- seed {o.seed}: " + " ".join(
        f"{share_text(w.hit_rate)} ({share_text(w.new_share)}; "
        f"{share_text(w.equivalent_share)})" for w in o.windows)
        for o in report.outcomes]
    return "\n".join(lines) + "\n"
