"""What a run holds, for people and for scripts: the summary of a run folder (best programs,
fitness against the seeds, cache hits, promotion and its transfer, and how each program
relates to the seeds: a retune of one, or new structure, see `analysis.retune`) that `show` and
the report print."""
from __future__ import annotations

import math
import statistics
from typing import Any

from lion_search.analysis.equivalence import Equivalence
from lion_search.analysis.retune import relate
from lion_search.language.parser import parse_program
from lion_search.language.shapes import memory_cost
from lion_search.runs import journal_proposals, journal_reproductions, journal_twins
from lion_search.runs.journal import EvalKind, RunStore
from lion_search.runs.lr_checked import lr_warning_in_run
from lion_search.runs.references import run_best
from lion_search.runs.transfer import transfer
from lion_search.runs.verdict import verdict


def format_delta(fitness: float, seed: float, relative: bool) -> str:
    """A fitness against the seed's (negative is better), the same wherever it is shown: a
    percentage of a loss, or for a portfolio's fitness (already a mean log ratio) the
    difference; small changes keep two significant digits ('-0.012%', not '-0.0%')."""
    if not (math.isfinite(fitness) and math.isfinite(seed)) or (seed == 0 and not relative):
        return ""
    if relative:
        return f"{fitness - seed:+.3g} vs seed"
    percent = 100 * (fitness - seed) / abs(seed)
    return f"{percent:+.1f}% vs seed" if abs(percent) >= 0.1 else f"{percent:+.2g}% vs seed"


def format_startup(startup: dict) -> str:
    """One line from a journaled `startup` record: the seconds from the command's start to the
    first trained evaluation, and each phase's share (the first share, before any phase, is
    the program's own start: Python, imports, checking the settings, opening the journal)."""
    phases = startup["phases"]
    first = startup["first_evaluation_s"]
    ends = [began for _, began in phases[1:]] + [first]
    parts = [f"set-up {phases[0][1]:.1f} s"] if phases else []
    parts += [f"{name} {end - began:.1f} s" for (name, began), end in zip(phases, ends)]
    return (f"first trained evaluation {first:.1f} s after the command started "
            f"({', '.join(parts)}; {startup['workers']} {startup['pool']} worker(s)"
            f"{', resumed' if startup['resumed'] else ''})")


def is_relative(store: RunStore) -> bool:
    """Whether the run's fitness is a portfolio's mean log ratio (it has reference losses)."""
    return bool(store.value("references"))


def json_number(x: float) -> float | None:
    """JSON has no infinity: the worst fitness is written as null."""
    return x if math.isfinite(x) else None


def seed_spread(scores: list[float]) -> float | None:
    """The sample standard deviation of a program's per-seed scores (None under two): how far
    one training run's score strays, a chaotic program's far more than most."""
    return statistics.stdev(scores) if len(scores) > 1 else None


def summarize(store: RunStore, top: int = 10) -> dict[str, Any]:
    """The run's state, counts, seeds, best program and top programs."""
    config = store.config
    seeds = store.value("seeds", [])
    seed_fitness = min((s["fitness"] for s in seeds), default=math.inf)
    trained = store.count(EvalKind.SEARCH, cached=False)
    hits = store.count(EvalKind.SEARCH, cached=True)
    best = store.best(top)
    promoted = store.best_fitness([row.id for row, _ in best], (EvalKind.PROMOTED,))
    hit_counts = store.cache_hits([row.hash for row, _ in best])
    found_at = store.positions([e.id for _, e in best], EvalKind.SEARCH)
    per_seed = journal_twins.trained_scores(store, [row.id for row, _ in best])
    relative = is_relative(store)
    rows = []
    for program_row, evaluation in best:
        program = parse_program(program_row.text)
        scores = list(per_seed.get(program_row.id, {}).values())
        rows.append({
            "id": program_row.id, "fitness": json_number(evaluation.fitness),
            "was_promoted": program_row.id in promoted,
            "promoted": json_number(promoted.get(program_row.id, math.inf)),
            "delta": json_number(evaluation.fitness - seed_fitness),
            "vs_seed": format_delta(evaluation.fitness, seed_fitness, relative),
            "memory": memory_cost(program), "length": len(program),
            "evaluation": found_at[evaluation.id],
            "cache_hits": hit_counts.get(program_row.hash, 0), "program": program_row.text,
            # the training seeds its fitness is over, and their scores' standard deviation
            "seeds": len(scores), "spread": seed_spread(scores),
            "relation": relate(program).to_json()})
    first, last = store.time_span(EvalKind.SEARCH, cached=False) or (None, None)
    seconds = (last - first) if first is not None and last > first else 0.0
    return {
        "run": str(store.folder), "state": store.state(), "task": config.get("task"),
        "budget": config.get("budget"), "workers": config.get("workers"),
        "evaluations": trained, "cache_hits": hits,
        "cache_hit_rate": hits / (trained + hits) if trained + hits else 0.0,
        "search_seconds": seconds,
        "evaluations_per_second": trained / seconds if seconds else None,
        "startup": store.value("startup"),   # the latest session's (search.journal_startup)
        "seeds": [{"name": s["name"], "fitness": json_number(s["fitness"]),
                   "lr_scale": s["lr_scale"], "id": s["id"]} for s in seeds],
        "references": store.value("references", []),
        "fitness_rule": fitness_rule(config),
        "promotion": {"tasks": promotion_tasks(store),
                      # runs journaled before the score had a rule were scored by the mean
                      "score": config.get("promote_score", "mean"),
                      "references": store.value("promotion_references", []),
                      # each side's budget (search.promotion.budgets); None before it existed
                      "budget": store.value("promotion_budget"),
                      "promoted": store.count(EvalKind.PROMOTED),
                      # the screen before promotion (search.promotion_scheduler); none: no screen
                      "screen": [c["task"] for c in store.value("screen_centres", [])],
                      "screened": store.count(EvalKind.SCREENED)},
        "best": _best_json(store),
        # the Kendall tau between proxy fitness and promoted score (runs.transfer)
        "transfer": transfer(store).to_json(),
        # the run's best against the seed through promotion's protocol (runs.verdict)
        "verdict": verdict(store, run_best(store)),
        # the end-of-run check on held-back seeds (search.held_back), None before it
        "held_back": store.value("held_back"),
        # the islands' restarts (search.renewal): {"after", "source", "at"} each
        "restarts": store.value("restarts", []),
        "reproductions": reproductions_json(store),
        "proposals": proposals_json(store),
        "islands": islands_json(store, config),
        "top": rows,
    }


def proposals_json(store: RunStore) -> dict[str, Any]:
    """How the search's mutants fared (journal_proposals.proposal_counts): how many, how many
    were new programs, and the equivalent mutants (of programs seen) that were mutated again."""
    mutants, equivalents, new, trained = journal_proposals.proposal_counts(store)
    generated = mutants + equivalents
    where = " on the tensors of the run's tasks" \
        if store.config.get("equivalence") == Equivalence.RUN else ""
    describe = (f"{mutants} mutants proposed, {new} of them new programs "
                f"({100 * new / mutants:.0f}%); {equivalents} more were equivalent to programs "
                f"seen{where} and were mutated again ({100 * equivalents / generated:.0f}% of "
                f"all mutants generated)") if mutants else "no mutants proposed yet"
    return {"mutants": mutants, "new_programs": new, "trained": trained,
            "equivalents": equivalents,
            "new_share": new / mutants if mutants else None,
            "equivalent_share": (equivalents + mutants - new) / generated if generated else None,
            "describe": describe}


def reproductions_json(store: RunStore) -> dict[str, Any] | None:
    """How far the search's reproductions (programs trained again on their first seed at a
    nudged lr) moved from the first run: |repeat - score| as a log ratio of losses, its median
    and 90th percentile, and how many turned out worse; None if the run made none."""
    found = journal_reproductions.reproductions(store)
    if not found:
        return None
    moved = [abs(r.repeat - r.score) for r in found]
    median = statistics.median(moved)
    top = statistics.quantiles(moved, n=10)[-1] if len(moved) > 1 else moved[0]
    worse = sum(r.repeat > r.score for r in found)
    describe = (f"reproductions: {len(found)} programs trained again on their first seed at lr "
                f"x {found[0].lr_factor:.6g}; their loss moved by a median of "
                f"{100 * math.expm1(median):.2g}% (90th percentile {100 * math.expm1(top):.2g}%), "
                f"for the worse in {worse}; a reproduced seed scores the worse of its two runs")
    return {"programs": len(found), "median_moved": median, "p90_moved": top,
            "worse": worse, "describe": describe}


def islands_json(store: RunStore, config: dict[str, Any]) -> list[dict[str, Any]]:
    """Each island's children, best program by proxy fitness and migrants received (empty for
    a run of one population)."""
    if config.get("islands", 1) < 2:
        return []
    return [{"island": island, "children": children, "best": best,
             "fitness": json_number(fitness), "migrants_in": migrants}
            for island, children, best, fitness, migrants in journal_proposals.island_counts(store)]


def fitness_rule(config: dict[str, Any]) -> str:
    """What a run's (relative) fitness means, in words, from its journaled settings."""
    if not config.get("seed_pool"):
        return ("mean over tasks and seeds of log(loss / reference loss); 0 ties tuned AdamW, "
                "below 0 beats it")
    return (f"over the program's training seeds ({config['fitness_seeds']} at first, the "
            f"epoch's, and more in later epochs, up to {config['max_seeds']}; the epoch's seeds "
            f"move on every {config.get('rotate_every', 0)} evaluations through 0.."
            f"{config['seed_pool'] - 1}), the sum of its mean over tasks of log(loss / AdamW's "
            f"loss on the same task and seed, at its calibrated lr), divided by their number + "
            f"{config.get('prior_seeds', 0):g}; 0 ties AdamW, below 0 beats it")


def promotion_tasks(store: RunStore) -> list[str]:
    """The tasks programs of this run were promoted to (empty before the first promotion)."""
    return [r["task"] for r in store.value("promotion_references", [])]


def _best_json(store: RunStore) -> dict[str, Any] | None:
    """The run's best (see run_best) with its proxy fitness and promoted score."""
    row = run_best(store)
    if row is None:
        return None
    fitness = store.best_fitness([row.id]).get(row.id, math.inf)
    promoted = store.best_fitness([row.id], (EvalKind.PROMOTED,)).get(row.id)
    simplified = store.simplified(row.id)
    program = parse_program(simplified or row.text)
    return {"id": row.id, "fitness": json_number(fitness),
            "promoted": None if promoted is None else json_number(promoted),
            "by": "promoted score" if promoted is not None else "proxy fitness",
            "program": row.text, "simplified": simplified,
            "lr_warning": lr_warning_in_run(store, row, program),
            "relation": relate(program).to_json()}

