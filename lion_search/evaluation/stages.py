"""Funnel stages (`proxy_tasks/funnel.json` by default): each stage names its tasks, seeds and
pass rule; the file also names the baselines and the lr grids. `load_stages` reads and checks it;
`selection.funnel` runs it and promotion takes its stage B tasks."""
from __future__ import annotations

import json
from pathlib import Path
from typing import NamedTuple

from lion_search.evaluation.portfolio import resolve_tasks
from lion_search.evaluation.tasks import get_task
from lion_search.language.errors import LionSearchError
from lion_search.language.library import read_program

DEFAULT_STAGES = Path(__file__).resolve().parents[2] / "proxy_tasks" / "funnel.json"
PASS_RULES = ("every_task", "mean")


class Stage(NamedTuple):
    """One funnel stage: tasks ("{proxy}" stands for the run's task or tasks), seeds and pass
    rule."""

    name: str
    tasks: tuple[str, ...]
    seeds: tuple[int, ...]
    rule: str


class FunnelConfig(NamedTuple):
    stages: tuple[Stage, ...]
    baselines: tuple[str, ...]
    baseline_grid: tuple[float, ...]
    candidate_grid: tuple[float, ...]


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
                              tuple(float(x) for x in data["candidate_grid"]))
    except OSError as err:
        raise LionSearchError(f"cannot read funnel stages {str(path)!r}: {err.strerror}") from None
    except (ValueError, KeyError, TypeError) as err:
        raise LionSearchError(f"bad funnel stage file {str(path)!r}: {err!r}; expected "
                              '{"stages": [{"name", "tasks", "seeds", "pass"}], "baselines", '
                              '"baseline_grid", "candidate_grid"}') from None
    for stage in config.stages:
        if stage.rule not in PASS_RULES:
            raise LionSearchError(f"stage {stage.name}: unknown pass rule {stage.rule!r}; "
                                  f"allowed: {', '.join(PASS_RULES)}")
        if not stage.tasks or not stage.seeds:
            raise LionSearchError(f"stage {stage.name}: needs at least one task and one seed")
        for task in stage.tasks:
            get_task(task)
    for name in config.baselines:
        read_program(name)
    return config


def _expand(tasks: list[str], proxy: str) -> tuple[str, ...]:
    """A stage's tasks with "{proxy}" standing for the run's task(s): one task, or each task of
    a portfolio or comma-separated list."""
    return tuple(x for t in tasks for x in (resolve_tasks(proxy) if t == "{proxy}" else (t,)))
