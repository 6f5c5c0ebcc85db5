"""Tuning on Optuna: an optimizer's learning rate and hyperparameters tuned on a task, on a
stated budget, so that two optimizers compared have had the same chance.

A tuning trains program P on task T once per seed of S for each of N trials; a trial's score
is its mean validation loss over the seeds (inf if any run fails) and the result is the best
trial's. Two kinds (`TuningKind`):

    TPE      the lr and P's hyperparameters (`language.hyperparams`: a seed's named constants,
             b1, b2, eps, weight decay...; any other program's numeric literals), each on its
             search scale over `search_range()` (a decade either side; a decay near 1 on
             log(1 - c)), the lr log-uniform on LR_RANGE. The first k = min(5, ceil(N / 4))
             trials are an lr grid at P's own constants (the centres of k equal parts of
             [1e-4, 1] on a log scale); the rest are drawn by Optuna's TPE sampler, seeded.
             Suggested values are rounded to 3 significant digits (of 1 - c for a decay) and
             trained as rounded.
    LR_GRID  the lr alone over a grid of factors of P's own lr scale (`--tune lr`): fast, but
             not a fair comparison with an optimizer tuned beyond its lr.

The lr is always the one given to P without its calibration line `lr = c * lr` (`unscale_lr`),
so every optimizer is searched over the same lr range; `Tuned.program` is that program with the
tuned constants, to be given `Tuned.lr`.

`constants=K` tunes only the K hyperparameters whose perturbation moves the loss most. The rule
(`screen`): train P at its own constants over the k = 5 lr grid above; at the best lr L0, move
each hyperparameter alone a quarter of its search range down and up (on its search scale) and
train; its sensitivity is max |L(moved) - L0| (inf if a moved run fails). The K largest are
tuned (ties: the earlier in the program); the screening's runs are part of the budget.

Studies live in SQLite (`$LION_SEARCH_TUNING`, else STUDIES), one per key: a digest of P's text
and declaration, the task's name, steps, batch and schedule, the seeds, the kind, the trials,
the lr grid, the constants tuned, the sampler's seed and the version of the code that trains
(`evaluation.traced.code_version` of TRAINING_CODE). A second call with the same key finds
its trials there and trains nothing; one interrupted goes on from the trials it finished.
"""
from __future__ import annotations

import functools
import hashlib
import json
import math
import os
from enum import Enum
from pathlib import Path
from typing import Callable, NamedTuple, Sequence

import numpy as np

from lion_search.evaluation.fitness import Evaluator
from lion_search.evaluation.lr_sweep import DEFAULT_GRID, Comparison
from lion_search.evaluation.results import WORST_FITNESS, EvalResult
from lion_search.evaluation.traced import code_version
from lion_search.language.edits import round_significant
from lion_search.language.errors import LionSearchError, ProgramError
from lion_search.language.hyperparams import (DECLARATION, DERIVED, DERIVED_DIGITS, Declaration,
                                              NO_DECLARATION, Derived, Hyperparameter, Scale,
                                              declaration_of, evaluate_formula, hyperparameters,
                                              read_declaration, substitute)
from lion_search.language.lr_scale import unscale_lr
from lion_search.language.program import Program, format_constant
from proxy_tasks.base import Task

STUDIES = Path.home() / ".cache" / "lion-search" / "tuning.sqlite"
LR_RANGE = (1e-5, 3.0)          # where TPE searches the lr (log scale)
START_RANGE = (1e-4, 1.0)       # where the first trials' lr grid lies (log scale)
START_POINTS = 5                # at most this many lr grid trials start a TPE study
DIGITS = 3                      # significant digits of a suggested value
SAMPLER_SEED = 0
# The code whose change makes a study stale: the language, the evaluation and the tasks.
TRAINING_CODE = ("lion_search/language", "lion_search/evaluation", "proxy_tasks")
LR = "lr"                       # the learning rate's name among a trial's parameters


class TuningKind(Enum):
    """How a tuning searches (see the module's docstring)."""

    TPE = "tpe"
    LR_GRID = "lr"


class TuneSpec(NamedTuple):
    """What to tune: `trials` TPE trials over the lr and the hyperparameters (the `constants`
    most sensitive ones, or all with None), or the lr alone over `grid`."""

    kind: TuningKind = TuningKind.TPE
    trials: int = 32
    constants: int | None = None
    grid: tuple[float, ...] = DEFAULT_GRID

    @classmethod
    def parse(cls, text: str, grid: Sequence[float] | None = None,
              constants: int | None = None) -> "TuneSpec":
        """`--tune N` (N TPE trials) or `--tune lr` (the lr over `grid`); one clear error
        otherwise."""
        if text == LR:
            return cls(TuningKind.LR_GRID, grid=tuple(grid or DEFAULT_GRID))
        if not text.isdigit() or int(text) < 1:
            raise LionSearchError(f"--tune must be a number of trials (1 or more) or 'lr', "
                                  f"got {text!r}")
        return cls(TuningKind.TPE, int(text), constants)

    @property
    def count(self) -> int:
        """Trials per optimizer."""
        return len(self.grid) if self.kind is TuningKind.LR_GRID else self.trials


class Budget(NamedTuple):
    """What a tuning spent: `trials` trials of `seeds` runs each over the parameters `tuned`,
    and the runs its screening took (choosing the constants)."""

    kind: TuningKind
    trials: int
    seeds: int
    tuned: tuple[str, ...]
    screening: int = 0

    @property
    def runs(self) -> int:
        return self.trials * self.seeds + self.screening

    def describe(self) -> str:
        """E.g. '32 trials x 2 seeds over lr, b1, b2 (64 runs)'."""
        what = "an lr grid of" if self.kind is TuningKind.LR_GRID else ""
        screening = f" + {self.screening} screening" if self.screening else ""
        return (f"{what} {self.trials} trials x {self.seeds} seed{'s' * (self.seeds > 1)} over "
                f"{', '.join(self.tuned)} ({self.trials * self.seeds}{screening} runs)").strip()

    def to_json(self) -> dict:
        return {"kind": self.kind.value, "trials": self.trials, "seeds": self.seeds,
                "tuned": list(self.tuned), "screening": self.screening, "runs": self.runs,
                "text": self.describe()}


class Tuned(NamedTuple):
    """A tuned optimizer: `program` (its calibration line taken off, tuned constants in) at
    learning rate `lr`; `values` the tuned hyperparameters and `start` their values before;
    `comparison` its best trial (loss, spread, per-seed result) and every trial's (lr, loss);
    `trained` the runs this call trained (0 when its studies were found complete)."""

    name: str
    program: Program
    lr: float
    values: dict[str, float]
    start: dict[str, float]
    comparison: Comparison
    budget: Budget
    trained: int

    @property
    def fitness(self) -> float:
        return self.comparison.fitness


@functools.cache
def _storage(url: str):
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna.storages.RDBStorage(url, engine_kwargs={"connect_args": {"timeout": 60}})


def studies_path() -> Path:
    """The SQLite file holding the studies: $LION_SEARCH_TUNING, else STUDIES."""
    return Path(os.environ.get("LION_SEARCH_TUNING", STUDIES))


def _study(key: dict, label: str, sampler=None):
    """The study of `key` (created empty if new), named `label` and a digest of the key."""
    import optuna

    path = studies_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps({**key, "code": code_version(TRAINING_CODE)}, sort_keys=True)
    name = f"{label}-{hashlib.blake2b(text.encode(), digest_size=12).hexdigest()}"
    study = optuna.create_study(study_name=name, storage=_storage(f"sqlite:///{path}"),
                                load_if_exists=True, direction="minimize",
                                sampler=sampler or optuna.samplers.RandomSampler(SAMPLER_SEED))
    study.set_user_attr("key", text)
    return study


def _finished(study) -> list:
    """The study's finished trials, in the order they were asked for."""
    from optuna.trial import TrialState

    return sorted(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)),
                  key=lambda t: t.number)


# ------------------------------------------------------------------------------ the trials

def _space(params: Sequence[Hyperparameter], lr_range: tuple[float, float]) -> dict:
    """Optuna distributions: the lr (log) and each hyperparameter on its search scale."""
    from optuna.distributions import FloatDistribution

    space = {LR: FloatDistribution(*lr_range, log=True)}
    for h in params:
        low, high = sorted(h.to_search(v) for v in h.search_range())
        space[h.name] = FloatDistribution(low, high)
    return space


def _rounded(h: Hyperparameter, x: float) -> float:
    """The value at search coordinate x, to DIGITS significant digits (of 1 - c for a decay)."""
    value = h.from_search(x)
    if h.scale is Scale.DECAY:
        return 1 - round_significant(1 - value, DIGITS)
    return round_significant(value, DIGITS) if value else 0.0


class _Trainer(NamedTuple):
    """Trains `base` (no calibration line) with some hyperparameters set, at some lr."""

    base: Program
    declaration: Declaration
    params: tuple[Hyperparameter, ...]
    evaluator: Evaluator

    def program(self, values: dict[str, float]) -> Program:
        return substitute(self.base, values, self.declaration) if values else self.base

    def run(self, study, lr: float, values: dict[str, float], trial=None) -> EvalResult:
        """Train one trial and file it in `study`: the asked `trial`, or a new fixed trial
        (every parameter at its value: the lr, `values` and the other hyperparameters')."""
        import optuna
        from optuna.distributions import FloatDistribution

        result = self.evaluator.evaluate_many([self.program(values)], lr_scale=lr)[0]
        fitness = result.fitness if math.isfinite(result.fitness) else WORST_FITNESS
        attrs = {"lr": lr, "values": values, "per_seed": list(result.per_seed),
                 "status": result.status, "seconds": result.seconds,
                 "curve": [round_significant(float(x), 6) if math.isfinite(x) else None
                           for x in result.curve]}
        if trial is None:
            params = {h.name: float(h.to_search(values.get(h.name, h.value))) for h in self.params}
            space = {n: FloatDistribution(x, x) for n, x in params.items()}
            params[LR], space[LR] = lr, FloatDistribution(lr, lr, log=True)
            study.add_trial(optuna.trial.create_trial(params=params, distributions=space,
                                                      value=fitness, user_attrs=attrs))
        else:
            for k, v in attrs.items():
                trial.set_user_attr(k, v)
            study.tell(trial, fitness)
        return result


def _fixed(trainer: _Trainer, study, configs: Sequence[tuple[float, dict[str, float]]],
           progress: Callable[[int], None]) -> int:
    """Train each (lr, values) of `configs` not in the study yet (the i-th config is its i-th
    trial); the number trained."""
    done = len(_finished(study))
    for i, (lr, values) in enumerate(configs[done:], done):
        progress(i)
        trainer.run(study, lr, values)
    return max(len(configs) - done, 0)


def _attrs_result(trial) -> EvalResult:
    a = trial.user_attrs
    curve = np.array([math.nan if x is None else x for x in a["curve"]], dtype=float)
    return EvalResult(trial.value, curve, a["status"], a["seconds"], tuple(a["per_seed"]))


def start_lrs(count: int) -> tuple[float, ...]:
    """`count` learning rates at the centres of equal parts of START_RANGE (log scale)."""
    low, high = (math.log10(x) for x in START_RANGE)
    return tuple(round_significant(10 ** (low + (high - low) * (i + 0.5) / count), DIGITS)
                 for i in range(count))


# ------------------------------------------------------------------------------ screening

class Screening(NamedTuple):
    """The sensitivity of the loss to each hyperparameter (see the module's docstring)."""

    sensitivity: dict[str, float]
    runs: int        # trainings it took (trials x seeds)
    trained: int     # of which this call trained


def screen(trainer: _Trainer, key: dict, label: str) -> Screening:
    """Move each hyperparameter alone, down and up a quarter of its search range, at the best
    lr of a START_POINTS lr grid; the loss's largest change for each."""
    study = _study({**key, "screen": True}, f"{label}-screen")
    grid = [(lr, {}) for lr in start_lrs(START_POINTS)]
    trained = _fixed(trainer, study, grid, lambda i: None)
    first = _finished(study)[:len(grid)]
    best = min(first, key=lambda t: (t.value, t.number))
    lr, base = best.user_attrs["lr"], best.value
    moves = []
    for h in trainer.params:
        low, high = sorted(h.to_search(v) for v in h.search_range())
        for step in (-0.25, 0.25):
            x = min(max(h.to_search(h.value) + step * (high - low), low), high)
            moves.append((lr, {h.name: h.from_search(x)}))
    trained += _fixed(trainer, study, grid + moves, lambda i: None)
    moved = _finished(study)[len(grid):len(grid) + len(moves)]
    sensitivity = {h.name: max(abs(t.value - base) if math.isfinite(t.value) else math.inf
                               for t in moved[2 * i:2 * i + 2])
                   for i, h in enumerate(trainer.params)}
    seeds = len(trainer.evaluator.seeds)
    return Screening(sensitivity, (len(grid) + len(moves)) * seeds, trained * seeds)


def most_sensitive(screening: Screening, count: int) -> tuple[str, ...]:
    """The `count` names of largest sensitivity (ties: the earlier), in the program's order."""
    names = list(screening.sensitivity)
    chosen = set(sorted(names, key=lambda n: -screening.sensitivity[n])[:count])
    return tuple(n for n in names if n in chosen)


# ---------------------------------------------------------------------------------- tuning

def declaration_for(source: str, program: Program) -> Declaration:
    """The declaration naming the hyperparameters of `program`, read from `source` (the seed
    name, file or RUN:ID it came from): a program file's own declaration lines where it has
    them (a file written by `tune -o` has), else its seed's (`declaration_of`)."""
    path = Path(source)
    own = read_declaration(path) if path.is_file() else NO_DECLARATION
    return own if own.names else declaration_of(program)


def tune(program: Program, task: Task, seeds: Sequence[int], spec: TuneSpec | None = None,
         name: str | None = None, declaration: Declaration | None = None,
         progress: Callable[[str], None] = lambda msg: None) -> Tuned:
    """Tune `program` on `task` with `seeds` as `spec` says (see the module's docstring);
    `declaration` names its hyperparameters (default: its seed's, if it is one)."""
    name, spec = name or program.name, spec or TuneSpec()
    base, scale = unscale_lr(program)
    declaration = declaration_of(base) if declaration is None else declaration
    params = hyperparameters(base, declaration)
    trainer = _Trainer(base, declaration, params, Evaluator(task, seeds))
    key = {"program": str(base), "declaration": [list(declaration.names.items()),
                                                 [list(d) for d in declaration.derived]],
           "task": task.name, "steps": task.steps, "batch": task.batch_size,
           "schedule": task.schedule_name, "seeds": list(seeds)}
    label = f"{name}-{task.name}"
    screened = Screening({}, 0, 0)
    if spec.kind is TuningKind.LR_GRID:
        tuned: tuple[Hyperparameter, ...] = ()
        configs = [(round_significant(scale * f, 12), {}) for f in spec.grid]
        study = _study({**key, "kind": spec.kind.value, "grid": configs}, label)
        trained = _fixed(trainer, study, configs, lambda i: progress(
            f"{name} on {task.name}: lr {i + 1}/{len(configs)}"))
    else:
        tuned = params
        if spec.constants is not None and spec.constants < len(params):
            progress(f"{name} on {task.name}: choosing {spec.constants} of {len(params)} "
                     "constants")
            screened = screen(trainer, key, label)
            chosen = most_sensitive(screened, spec.constants)
            tuned = tuple(h for h in params if h.name in chosen)
        study, trained = _tpe(trainer._replace(params=tuned), spec.trials, key, label, lambda i:
                              progress(f"{name} on {task.name}: trial {i + 1}/{spec.trials}"))
    trials = _finished(study)[:spec.count]
    best = min(trials, key=lambda t: (t.value, t.number))
    values = dict(best.user_attrs["values"])
    result = _attrs_result(best)
    finite = math.isfinite(result.fitness)
    comparison = Comparison(name, best.user_attrs["lr"] if finite else math.nan, result.fitness,
                            float(np.std(result.per_seed)) if finite else math.nan, result,
                            sorted((t.user_attrs["lr"], t.value) for t in trials))
    budget = Budget(spec.kind, len(trials), len(seeds),
                    (LR,) + tuple(h.name for h in tuned), screened.runs)
    return Tuned(name, trainer.program(values), comparison.lr, values,
                 {h.name: h.value for h in tuned}, comparison, budget,
                 trained * len(seeds) + screened.trained)


def _tpe_key(key: dict, tuned: Sequence[Hyperparameter], trials: int) -> dict:
    return {**key, "kind": TuningKind.TPE.value, "trials": trials, "lr_range": LR_RANGE,
            "tuned": [h.name for h in tuned], "sampler_seed": SAMPLER_SEED}


def _tpe(trainer: _Trainer, trials: int, key: dict, label: str,
         progress: Callable[[int], None]):
    """Run the TPE study to `trials` finished trials; (the study, the trials trained now)."""
    import optuna

    start = [(lr, {}) for lr in start_lrs(min(START_POINTS, math.ceil(trials / 4)))][:trials]
    sampler = optuna.samplers.TPESampler(seed=SAMPLER_SEED, n_startup_trials=len(start))
    study = _study(_tpe_key(key, trainer.params, trials), label, sampler)
    trained = _fixed(trainer, study, start, progress)
    space = _space(trainer.params, LR_RANGE)
    by_name = {h.name: h for h in trainer.params}
    while len(_finished(study)) < trials:
        progress(len(_finished(study)))
        trial = study.ask(space)
        values = {n: _rounded(by_name[n], x) for n, x in trial.params.items() if n != LR}
        trainer.run(study, round_significant(trial.params[LR], DIGITS), values, trial)
        trained += 1
    return study, trained


def tune_all(programs: dict[str, Program], task: Task, seeds: Sequence[int], spec: TuneSpec,
             declarations: dict[str, Declaration] | None = None,
             progress: Callable[[str], None] = lambda msg: None) -> list[Tuned]:
    """Tune every program on the same budget; best first."""
    declarations = declarations or {}
    out = [tune(p, task, seeds, spec, n, declarations.get(n), progress)
           for n, p in programs.items()]
    return sorted(out, key=lambda t: t.fitness)


# --------------------------------------------------------------------------- program files

def program_file_text(tuned: Tuned, original: Program, declaration: Declaration, task: Task,
                      seeds: Sequence[int]) -> str:
    """A program file of the tuned program: a header saying how it was tuned, the declaration
    of its hyperparameters at their tuned values (where each still names exactly the places
    it named in `original`) and the program. `eval`, `show`, `export` and `tune` read it like
    any program file."""
    c = tuned.comparison
    lines = [(f"# {tuned.name} tuned by `lion-search tune` on {task.name} ({task.steps} steps, "
              f"{task.schedule_name} schedule), seeds {','.join(map(str, seeds))}:"),
             (f"# {tuned.budget.describe()}; val loss {c.fitness:.6g} +-{c.spread:.2g} at lr "
              f"{c.lr:.6g} (give it that lr).")]
    names = {n: tuned.values.get(n, v) for n, v in declaration.names.items()}
    new = Declaration(names, tuple(
        Derived(round_significant(evaluate_formula(d.formula, names), DERIVED_DIGITS), d.formula)
        for d in declaration.derived))
    if names and _same_sites(unscale_lr(original)[0], declaration, tuned.program, new):
        lines.append(f"# {DECLARATION}: " + ", ".join(f"{n} = {format_constant(v)}"
                                                       for n, v in names.items()))
        lines += [f"# {DERIVED}: {format_constant(d.value)} = {d.formula}" for d in new.derived]
    return "\n".join(lines) + "\n" + str(tuned.program)


def _same_sites(a: Program, a_names: Declaration, b: Program, b_names: Declaration) -> bool:
    """Whether the two declarations name the same places of their programs, values distinct."""
    values = list(b_names.names.values()) + [d.value for d in b_names.derived]
    if len(set(values)) != len(values):
        return False
    try:
        return [h.sites for h in hyperparameters(a, a_names)] == \
            [h.sites for h in hyperparameters(b, b_names)]
    except ProgramError:
        return False
