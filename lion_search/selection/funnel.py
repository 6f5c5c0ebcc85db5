"""Funnel selection: re-test a run's best programs on larger tasks against fairly tuned baselines.

Stages come from a JSON file (default `proxy_tasks/funnel.json`): each names its tasks, seeds
and pass rule. The top K distinct programs of a run enter the first stage; those that pass a
stage enter the next. In every stage each baseline (AdamW, Adam, Lion) has its learning rate
swept over a log grid on each task, and each candidate its own lr scale times a small grid,
so that nobody is compared at a learning rate tuned for somebody else. A candidate passes when
it beats the best baseline on every task of the stage by more than the seeds' noise (rule
"every_task"), or on the mean over tasks of its loss relative to the best baseline's (rule
"mean"). Candidate and baseline train on the same seeds (same initialization, same batches), so
they are compared seed by seed: with d_s = L_candidate(s) - L_baseline(s) the difference of
validation losses on seed s of n,

    mean_s d_s + sd_s(d_s) / sqrt(n - 1)  <  0        (sd over the seeds, divided by n)

the candidate is better by more than one standard error of the mean difference (no margin with
one seed, where the seeds give no estimate of the noise). With two seeds this is: better on
each seed.

Each candidate is labelled with how it relates to the seeds (`analysis.retune`): a retune of a
seed (with each changed constant) or new structure. The record gives each stage's verdict with
the label ("retune of adamw: passes"), and a winner's exported module says it in its docstring.
"""
from __future__ import annotations

import json
import math
from dataclasses import replace
from pathlib import Path
from typing import Callable, NamedTuple

import numpy as np

from lion_search.analysis.dedup import DedupCache
from lion_search.analysis.lr_check import lr_warning
from lion_search.analysis.retune import relate
from lion_search.evaluation.fitness import Evaluator
from lion_search.evaluation.lr_sweep import Comparison, sweep
from lion_search.evaluation.stages import (
    DEFAULT_STAGES,
    FunnelConfig,
    Stage,
    load_stages,
)
from lion_search.evaluation.tasks import get_task
from lion_search.export.optax_module import write_module
from lion_search.language.errors import LionSearchError
from lion_search.language.lr_scale import unscale_lr
from lion_search.language.parser import parse_program
from lion_search.language.program import Program
from lion_search.runs.journal import RunStore
from lion_search.runs.references import load_program, program_name


class Entry(NamedTuple):
    """An optimizer in a stage: its results per task, and whether it passed."""

    name: str
    id: int | None
    results: dict[str, Comparison]
    passed: bool


def candidates(store: RunStore, top: int,
               prepare: Callable[[Program], Program] = lambda p: p) -> list[tuple[str, int, Program]]:
    """The run's top `top` programs that stay distinct (by data-flow hash and functional
    fingerprint, see dedup) after `prepare` (e.g. simplification): the promoted ones by promoted
    score first (so the run's best enters), then the rest by proxy fitness."""
    out, seen = [], set()
    for row, _ in store.best(100 * top, "promoted") + store.best(100 * top):
        program = prepare(parse_program(row.text))
        keys = set(DedupCache().keys(program))
        if keys & seen:
            continue
        seen |= keys
        out.append((f"c{row.id}", row.id, program))
        if len(out) == top:
            break
    return out


def beats(candidate: Comparison, baseline: Comparison) -> bool:
    """Whether the candidate's loss is below the baseline's by more than one standard error of
    the mean per-seed difference (see the module's docstring)."""
    if not math.isfinite(candidate.fitness) or not math.isfinite(baseline.fitness):
        return math.isfinite(candidate.fitness)   # a failed run on any seed loses
    differences = np.subtract(candidate.result.per_seed, baseline.result.per_seed)
    n = len(differences)
    margin = float(np.std(differences)) / math.sqrt(n - 1) if n > 1 else 0.0
    return float(np.mean(differences)) + margin < 0


def passes(entry_results: dict[str, Comparison], best_baseline: dict[str, Comparison],
           rule: str) -> bool:
    """The stage's pass rule applied to one candidate (see the module's docstring)."""
    if rule == "every_task":
        return all(beats(entry_results[t], b) for t, b in best_baseline.items())
    ratios = [entry_results[t].fitness / b.fitness for t, b in best_baseline.items()]
    return math.fsum(ratios) / len(ratios) < 1.0


def run_stage(stage: Stage, config: FunnelConfig, entrants: list[tuple[str, int, Program]],
              progress: Callable[[str], None] = lambda msg: None) -> tuple[list[Entry], list[Entry]]:
    """(baselines, candidates) of one stage, each with its swept results per task."""
    baselines = {name: load_program(name) for name in config.baselines}
    baseline_results: dict[str, dict[str, Comparison]] = {n: {} for n in baselines}
    candidate_results: dict[str, dict[str, Comparison]] = {n: {} for n, _, _ in entrants}
    programs = {name: program for name, _, program in entrants}
    runs = [(name, program, config.baseline_grid, baseline_results)
            for name, program in baselines.items()]
    runs += [(name, program, config.candidate_grid, candidate_results)
             for name, program in programs.items()]
    for t, task_name in enumerate(stage.tasks, 1):
        evaluator = Evaluator(get_task(task_name), stage.seeds)
        for k, (name, program, grid, results) in enumerate(runs, 1):
            progress(f"stage {stage.name}, task {t}/{len(stage.tasks)} ({task_name}): "
                     f"{name}, {len(grid)} learning rates ({k}/{len(runs)} optimizers)")
            results[name][task_name] = sweep({name: program}, evaluator, grid)[0]
    best = {t: min((r[t] for r in baseline_results.values()), key=lambda c: c.fitness)
            for t in stage.tasks}
    base_entries = [Entry(n, None, r, False) for n, r in baseline_results.items()]
    cand_entries = [Entry(name, pid, candidate_results[name],
                          passes(candidate_results[name], best, stage.rule))
                    for name, pid, _ in entrants]
    return base_entries, cand_entries


def _result_json(c: Comparison) -> dict:
    finite = math.isfinite(c.fitness)
    return {"fitness": c.fitness if finite else None,
            "spread": c.spread if finite else None, "lr": c.lr if finite else None}


def module_lrs(record: dict, name: str, scale: float) -> dict[str, float]:
    """The learning rate to give a winner's exported module on each task it trained: the
    module has no `lr = scale * lr` line, so its lr is `scale` times the factor the funnel
    found for the candidate (which has the line)."""
    return {task: scale * result["lr"] for stage in record["stages"]
            for c in stage["candidates"] if c["name"] == name
            for task, result in c["results"].items() if result["lr"] is not None}


def run_funnel(store: RunStore, top: int = 5, stages_path: str | Path = DEFAULT_STAGES,
               prepare: Callable[[Program], Program] = lambda p: p,
               progress: Callable[[str], None] = lambda msg: None) -> dict:
    """Run every stage on the run's top programs; writes RUN/funnel.json and RUN/winners/*.py
    (the programs that passed at least the second stage) and returns the funnel record."""
    config = load_stages(stages_path, store.config.get("task", "digits-mlp"))
    progress(f"choosing the {top} best distinct programs")
    entrants = candidates(store, top, prepare)
    if not entrants:
        raise LionSearchError(f"run {str(store.folder)!r} has no evaluated program to test")
    programs = {name: program for name, _, program in entrants}
    ids = {name: pid for name, pid, _ in entrants}
    progress("checking that each candidate's update grows with lr")
    relations = {name: relate(program) for name, program in programs.items()}
    record = {"run": str(store.folder), "top": top, "stages": [], "winners": [],
              "candidates": [{"name": name, "id": pid, "program": str(program),
                              "lr_warning": lr_warning(program),
                              "relation": relations[name].to_json()}
                             for name, pid, program in entrants]}
    reached: dict[str, str] = {}
    for index, stage in enumerate(config.stages):
        if not entrants:
            break
        base_entries, cand_entries = run_stage(stage, config, entrants, progress)
        record["stages"].append({
            "name": stage.name, "tasks": list(stage.tasks), "seeds": list(stage.seeds),
            "rule": stage.rule,
            "baselines": [{"name": e.name, "results": {t: _result_json(c) for t, c in
                                                        e.results.items()}} for e in base_entries],
            "candidates": [{"name": e.name, "id": e.id, "passed": e.passed,
                            "verdict": relations[e.name].verdict(e.passed),
                            "results": {t: _result_json(c) for t, c in e.results.items()}}
                           for e in cand_entries]})
        passed = {e.name for e in cand_entries if e.passed}
        for name in passed:
            reached[name] = stage.name
        entrants = [e for e in entrants if e[0] in passed]
    names = [s.name for s in config.stages]
    winners_dir = store.folder / "winners"
    for name, stage_name in reached.items():
        if len(names) > 1 and names.index(stage_name) >= 1:
            winners_dir.mkdir(exist_ok=True)
            program, scale = unscale_lr(programs[name])
            path = write_module(replace(program, name=program_name(store.folder, ids[name])),
                                winners_dir / f"{name}.py",
                                (scale, "the peak lr of the search's schedule"))
            record["winners"].append({"name": name, "id": ids[name], "stage": stage_name,
                                      "relation": relations[name].headline,
                                      "path": str(path.relative_to(store.folder)),
                                      "learning_rate": module_lrs(record, name, scale)})
    (store.folder / "funnel.json").write_text(json.dumps(record, indent=2))
    return record
