"""Funnel stages (`proxy_tasks/funnel.json` by default): each stage names its tasks, seeds and
pass rule; the file also names the baselines (and those only for language models), how every
optimizer is tuned ("tune": N trials of `evaluation.tuning` over the lr and hyperparameters, a
candidate's at most "constants" of its constants; or "lr", the lr alone over "baseline_grid"
and, in factors of a candidate's own lr scale, "candidate_grid"). `load_stages` reads and checks
it; `selection.funnel` runs it and promotion takes its stage B tasks."""
from __future__ import annotations

import json
from pathlib import Path
from typing import NamedTuple

from lion_search.evaluation.portfolio import resolve_tasks
from lion_search.evaluation.tasks import get_task
from lion_search.evaluation.tuning import TuneSpec, TuningKind
from lion_search.language.errors import LionSearchError
from lion_search.language.library import read_program

DEFAULT_STAGES = Path(__file__).resolve().parents[2] / "proxy_tasks" / "funnel.json"
PASS_RULES = ("every_task", "mean")
DEFAULT_TRIALS = 16          # trials per optimizer and task where a stage file does not say
LANGUAGE_MODELS = ("text-lm",)   # task families whose stages add the language-model baselines


class Stage(NamedTuple):
    """One funnel stage: tasks ("{proxy}" stands for the run's task or tasks), seeds and pass
    rule."""

    name: str
    tasks: tuple[str, ...]
    seeds: tuple[int, ...]
    rule: str


class FunnelConfig(NamedTuple):
    """A stage file: the stages, the baselines and how every optimizer is tuned (`tune`: a
    number of trials, or "lr"; `constants`: at most this many of a candidate's constants)."""

    stages: tuple[Stage, ...]
    baselines: tuple[str, ...]
    baseline_grid: tuple[float, ...]
    candidate_grid: tuple[float, ...]
    language_model_baselines: tuple[str, ...] = ()
    tune: str = str(DEFAULT_TRIALS)
    constants: int | None = None

    def baselines_for(self, task: str) -> tuple[str, ...]:
        """The baselines of a task: all of `baselines`, and for a language model those of
        `language_model_baselines` too."""
        lm = get_task(task).family in LANGUAGE_MODELS
        return self.baselines + (self.language_model_baselines if lm else ())

    def specs(self) -> tuple[TuneSpec, TuneSpec]:
        """(the baselines' tuning, the candidates'): the same number of trials, or the lr
        grids."""
        if self.tune == "lr":
            return (TuneSpec(TuningKind.LR_GRID, grid=self.baseline_grid),
                    TuneSpec(TuningKind.LR_GRID, grid=self.candidate_grid))
        trials = TuneSpec.parse(self.tune).trials
        return TuneSpec(trials=trials), TuneSpec(trials=trials, constants=self.constants)

    def describe(self) -> dict[str, str]:
        """Each side's budget per task, in words."""
        baseline, candidate = self.specs()
        if baseline.kind is TuningKind.LR_GRID:
            return {"baselines": f"the lr alone over {len(baseline.grid)} values",
                    "candidates": f"the lr alone over {len(candidate.grid)} factors of its own"}
        most = "" if self.constants is None else f"the {self.constants} most sensitive of "
        return {"baselines": f"{baseline.trials} trials over the lr and its hyperparameters",
                "candidates": f"{candidate.trials} trials over the lr and {most}its constants"}


def load_stages(path: str | Path = DEFAULT_STAGES, proxy: str = "digits-mlp") -> FunnelConfig:
    """Read a stage file; checks every task, seed list and rule, naming what is wrong."""
    path = Path(path)
    try:
        data = json.loads(path.read_text())
        stages = tuple(Stage(s["name"], _expand(s["tasks"], proxy),
                             tuple(int(x) for x in s["seeds"]), s.get("pass", "every_task"))
                       for s in data["stages"])
        config = FunnelConfig(stages, tuple(data["baselines"]),
                              tuple(float(x) for x in data["baseline_grid"]),
                              tuple(float(x) for x in data["candidate_grid"]),
                              tuple(data.get("language_model_baselines", ())),
                              str(data.get("tune", DEFAULT_TRIALS)), data.get("constants"))
        config.specs()
    except OSError as err:
        raise LionSearchError(f"cannot read funnel stages {str(path)!r}: {err.strerror}") from None
    except (ValueError, KeyError, TypeError) as err:
        raise LionSearchError(f"bad funnel stage file {str(path)!r}: {err!r}; expected "
                              '{"stages": [{"name", "tasks", "seeds", "pass"}], "baselines", '
                              '"language_model_baselines", "tune" (trials or "lr"), "constants", '
                              '"baseline_grid", "candidate_grid"}') from None
    for stage in config.stages:
        if stage.rule not in PASS_RULES:
            raise LionSearchError(f"stage {stage.name}: unknown pass rule {stage.rule!r}; "
                                  f"allowed: {', '.join(PASS_RULES)}")
        if not stage.tasks or not stage.seeds:
            raise LionSearchError(f"stage {stage.name}: needs at least one task and one seed")
        for task in stage.tasks:
            get_task(task)
    if config.constants is not None and (not isinstance(config.constants, int)
                                         or config.constants < 0):
        raise LionSearchError(f"bad funnel stage file {str(path)!r}: constants must be a "
                              f"whole number >= 0, got {config.constants!r}")
    for name in config.baselines + config.language_model_baselines:
        read_program(name)
    return config


def _expand(tasks: list[str], proxy: str) -> tuple[str, ...]:
    """A stage's tasks with "{proxy}" standing for the run's task(s): one task, or each task of
    a portfolio or comma-separated list."""
    return tuple(x for t in tasks for x in (resolve_tasks(proxy) if t == "{proxy}" else (t,)))
