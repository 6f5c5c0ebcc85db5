"""Funnel selection: re-test a run's best programs on larger tasks against fairly tuned baselines.

Stages come from a JSON file (default `proxy_tasks/funnel.json`): each names its tasks, seeds
and pass rule. The top K distinct programs of a run enter the first stage; those that pass a
stage enter the next. In every stage, on each task, every optimizer is tuned on the same budget
(`evaluation.tuning`; the stage file's "tune"): the baselines (AdamW, Adam, Lion; Muon on the
language models) over the lr and their hyperparameters (b1, b2, eps, weight decay...), each
candidate over the lr and its constants (the stage file's "constants" most sensitive ones), with
the same number of Optuna trials, so that nobody is compared at a setting tuned for somebody
else; the record gives each side's budget. ("tune": "lr" sweeps the lr alone, as the funnel
once did: fast, but a candidate that only retunes a baseline's constants then looks like a
win.) Tuned baselines are kept in the tuning studies, so a second funnel trains none of them
again. A candidate passes when
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
from lion_search.evaluation.lr_sweep import Comparison
from lion_search.evaluation.stages import (
    DEFAULT_STAGES,
    FunnelConfig,
    Stage,
    load_stages,
)
from lion_search.evaluation.tasks import get_task
from lion_search.evaluation.tuning import Tuned, declaration_for, tune
from lion_search.export.optax_module import write_optax_module
from lion_search.language.errors import LionSearchError
from lion_search.language.lr_scale import unscale_lr
from lion_search.language.parser import parse_program
from lion_search.language.program import Program
from lion_search.runs.journal import EvalKind, RunStore
from lion_search.runs.references import load_program, program_name


class Entry(NamedTuple):
    """An optimizer in a stage: its tuning on each task, and whether it passed."""

    name: str
    id: int | None
    results: dict[str, Tuned]
    passed: bool


def candidates(store: RunStore, top: int,
               prepare: Callable[[Program], Program] = lambda p: p) -> list[tuple[str, int, Program]]:
    """The run's top `top` programs that stay distinct (by data-flow hash and functional
    fingerprint, see dedup) after `prepare` (e.g. simplification): the promoted ones by promoted
    score first (so the run's best enters), then the rest by proxy fitness."""
    out, seen = [], set()
    for row, _ in store.best(100 * top, EvalKind.PROMOTED) + store.best(100 * top):
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
    """(baselines, candidates) of one stage, each tuned on each task as the stage file says
    (`FunnelConfig.specs`: both sides get the same number of trials); a baseline that is not
    on every task (Muon, on the language models only) is compared where it is."""
    baseline_spec, candidate_spec = config.specs()
    names = dict.fromkeys(n for t in stage.tasks for n in config.baselines_for(t))
    baselines = {name: load_program(name) for name in names}
    declarations = {name: declaration_for(name, p) for name, p in baselines.items()}
    baseline_results: dict[str, dict[str, Tuned]] = {n: {} for n in baselines}
    candidate_results: dict[str, dict[str, Tuned]] = {n: {} for n, _, _ in entrants}
    for t, task_name in enumerate(stage.tasks, 1):
        task = get_task(task_name)
        runs = [(name, baselines[name], declarations[name], baseline_spec, baseline_results)
                for name in config.baselines_for(task_name)]
        runs += [(name, program, None, candidate_spec, candidate_results)
                 for name, _, program in entrants]
        for k, (name, program, declaration, spec, results) in enumerate(runs, 1):
            where = f"stage {stage.name}, task {t}/{len(stage.tasks)} ({task_name}), " \
                    f"optimizer {k}/{len(runs)}: "
            results[name][task_name] = tune(program, task, stage.seeds, spec, name, declaration,
                                            lambda msg, where=where: progress(where + msg))
    best = {t: min((r[t].comparison for r in baseline_results.values() if t in r),
                   key=lambda c: c.fitness) for t in stage.tasks}
    base_entries = [Entry(n, None, r, False) for n, r in baseline_results.items()]
    cand_entries = [Entry(name, pid, candidate_results[name],
                          passes({t: r.comparison for t, r in candidate_results[name].items()},
                                 best, stage.rule))
                    for name, pid, _ in entrants]
    return base_entries, cand_entries


def _result_json(tuned: Tuned) -> dict:
    """A tuning's result in the funnel record: loss, spread and per-seed losses, the lr and
    constants it was tuned to, and its budget."""
    c = tuned.comparison
    finite = math.isfinite(c.fitness)
    return {"fitness": c.fitness if finite else None,
            "spread": c.spread if finite else None, "lr": c.lr if finite else None,
            "per_seed": [x if math.isfinite(x) else None for x in c.result.per_seed],
            "hyperparameters": {n: v for n, v in tuned.values.items() if tuned.start[n] != v},
            "budget": tuned.budget.to_json(), "trained": tuned.trained}


def module_lrs(record: dict, name: str) -> dict[str, float]:
    """The learning rate to give a winner's exported module (its program without the
    calibration line `lr = c * lr`) on each task it trained, as tuned there (with the constants
    in the record's `hyperparameters`, where the tuning changed any)."""
    return {task: result["lr"] for stage in record["stages"]
            for c in stage["candidates"] if c["name"] == name
            for task, result in c["results"].items() if result["lr"] is not None}


def run_funnel(store: RunStore, top: int = 5, stages_path: str | Path = DEFAULT_STAGES,
               prepare: Callable[[Program], Program] = lambda p: p,
               progress: Callable[[str], None] = lambda msg: None, tune: str | None = None
               ) -> dict:
    """Run every stage on the run's top programs; writes RUN/funnel.json and RUN/winners/*.py
    (the programs that passed at least the second stage) and returns the funnel record.
    `tune` (a number of trials, or "lr") overrides the stage file's tuning."""
    config = load_stages(stages_path, store.config.get("task", "digits-mlp"))
    if tune is not None:
        config = config._replace(tune=tune)
        config.specs()
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
            "rule": stage.rule, "budget": config.describe(),
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
            path = write_optax_module(replace(program, name=program_name(store.folder, ids[name])),
                                winners_dir / f"{name}.py",
                                (scale, "the peak lr of the search's schedule"))
            record["winners"].append({"name": name, "id": ids[name], "stage": stage_name,
                                      "relation": relations[name].headline,
                                      "path": str(path.relative_to(store.folder)),
                                      "learning_rate": module_lrs(record, name)})
    (store.folder / "funnel.json").write_text(json.dumps(record, indent=2))
    return record
