"""The proxy benchmark's machinery on a tiny corpus and the synthetic tasks: targets computed,
written and read back; a proxy that is a target agrees with it exactly; costs measured; the
supported proxy chosen by the rule; and the shipped targets match the shipped corpus."""
import json
import math
import subprocess
import sys

import numpy as np
import pytest

from lion_search.bench.proxies import (
    Proxy,
    ProxyRow,
    Score,
    benchmark_proxies,
    candidate_proxies,
    markdown_table,
    score_of,
    supported,
)
from lion_search.bench.proxy_targets import (
    CORPUS,
    TargetPlan,
    compute_targets,
    funnel_plan,
    load_corpus,
    read_targets,
    write_targets,
)
from lion_search.bench.trainings import TaskRef, adaptive_sweep
from lion_search.evaluation.results import EvalResult
from lion_search.evaluation.tasks import get_task
from lion_search.language.errors import LionSearchError
from lion_search.language.library import read_program

TINY = ("sgd", "momentum", "adamw", "lion", "rmsprop")
PLAN = TargetPlan(anchor_task="logreg", anchor_grid=(1e-3, 1e-2, 1e-1, 1.0),
                  b_tasks=("logreg", "rosenbrock"), b_seeds=(0,), b_grid=(0.3, 0.9, 2.7),
                  c_tasks=("quadratic",), c_seeds=(0,), c_grid=(0.5, 1.0, 2.0), extend=2)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    folder = tmp_path_factory.mktemp("corpus")
    for name in TINY:
        (folder / f"{name}.py").write_text(str(read_program(name)))
    # a program saved with its calibration: the corpus takes the lr scale off
    (folder / "adam_scaled.py").write_text(
        "def adam_scaled(w, g, lr, t, m, v):\n    lr = 0.01 * lr\n"
        "    m = interp(g, m, 0.9)\n    v = interp(square(g), v, 0.999)\n"
        "    return lr * m / (sqrt(v) + 1e-8), m, v\n")
    return folder


@pytest.fixture(scope="module")
def targets(corpus):
    return compute_targets(load_corpus(corpus), PLAN, threads=2)


def test_the_corpus_drops_the_lr_scale(corpus):
    programs = load_corpus(corpus)
    assert sorted(programs) == sorted((*TINY, "adam_scaled"))
    assert programs["adam_scaled"].body[0].dst != "lr"
    with pytest.raises(LionSearchError, match="no program files"):
        load_corpus(corpus / "empty")


def on_grid(lr, centre, factors, extend):
    """Whether lr is centre x a factor of the grid extended by up to `extend` steps."""
    step = factors[1] / factors[0]
    k = math.log(lr / centre, step) - math.log(factors[0], step)
    return abs(k - round(k)) < 1e-6 and -extend <= round(k) <= len(factors) - 1 + extend


def test_targets_tune_the_lr_around_the_anchor(corpus, targets):
    for name in load_corpus(corpus):
        anchor = targets.anchors[name]
        assert on_grid(anchor, 1.0, PLAN.anchor_grid, PLAN.extend)
        for task in PLAN.b_tasks:
            result = targets.results[name][task]
            assert on_grid(result.lr, anchor, PLAN.b_grid, PLAN.extend)
            assert len(result.per_seed) == len(PLAN.b_seeds)
            assert len(result.sweep) >= len(PLAN.b_grid)
            assert (result.lr, result.loss) in result.sweep
            assert result.loss == min(loss for _, loss in result.sweep)
        # quadratic has no stage B task of its family: its grid centres on the anchor
        assert on_grid(targets.results[name]["quadratic"].lr, anchor, PLAN.c_grid, PLAN.extend)
    losses = targets.column("logreg", TINY)
    assert all(np.isfinite(losses)) and len(set(losses)) > 1


def test_a_sweep_grows_beyond_the_edge_where_its_best_lies():
    def score(lrs):     # a loss whose minimum lies at lr = 1e-2 (low) or 10^0.5 (high)
        return {n: {lr: (math.log10(lr) - (-2 if n == "low" else 0.5)) ** 2 for lr in grid}
                for n, grid in lrs.items()}

    grid = (0.1, 10 ** -0.5, 1.0, 10 ** 0.5, 10.0)
    runs = adaptive_sweep({"low": 1.0, "high": 0.01}, grid, 3, score, float)
    assert min(runs["low"], key=runs["low"].get) == pytest.approx(1e-2)
    assert min(runs["low"]) == pytest.approx(10 ** -2.5)       # one step past the best
    assert len(runs["low"]) == len(grid) + 3
    # the best lies 3 steps above the grid: reached, on the edge, with no step left
    assert max(runs["high"]) == min(runs["high"], key=runs["high"].get) == \
        pytest.approx(10 ** 0.5)
    assert len(runs["high"]) == len(grid) + 3
    failing = adaptive_sweep({"x": 1.0}, grid, 3, lambda lrs: {n: dict.fromkeys(g, math.inf)
                                                               for n, g in lrs.items()}, float)
    assert len(failing["x"]) == len(grid)


def test_stage_c_centres_on_the_same_familys_stage_b_task():
    plan = funnel_plan()
    assert plan.centred_on("digits-mlp-100x") == "digits-mlp-10x"
    assert plan.centred_on("text-lm-10x") == "text-lm-mini"
    assert plan.b_seeds == (0, 1) and plan.c_seeds == (0,)


def test_targets_are_written_and_read_back(corpus, targets, tmp_path):
    path = tmp_path / "targets.json"
    write_targets(targets, path)
    data = json.loads(path.read_text())
    assert data["command"] == "lion-search bench --proxies --targets"
    again = read_targets(load_corpus(corpus), path)
    assert again.results == targets.results and again.anchors == targets.anchors
    assert again.plan == PLAN


def test_targets_of_another_corpus_are_refused(corpus, targets, tmp_path):
    path = tmp_path / "targets.json"
    write_targets(targets, path)
    programs = load_corpus(corpus)
    programs["sgd"] = read_program("nesterov")
    with pytest.raises(LionSearchError, match=r"changed since: \['sgd'\]"):
        read_targets(programs, path)
    programs["newcomer"] = read_program("adam")
    with pytest.raises(LionSearchError, match=r"no targets for \['newcomer'\]"):
        read_targets(programs, path)
    with pytest.raises(LionSearchError, match="compute them with"):
        read_targets(programs, tmp_path / "absent.json")


def test_a_proxy_that_is_a_target_agrees_with_it(corpus, targets):
    proxies = [Proxy("logreg", (TaskRef("logreg"),)),
               Proxy("logreg, mean training loss", (TaskRef("logreg"),), Score.MEAN_TRAINING),
               Proxy("quadratic + logreg", (TaskRef("quadratic"), TaskRef("logreg")))]
    rows = {r.proxy.name: r for r in benchmark_proxies(load_corpus(corpus), targets, proxies, 2)}
    same = rows["logreg"]
    # the same task, seeds and lr grid as the target: the same order
    assert same.taus["logreg"] == pytest.approx(1.0)
    assert same.contains == ("logreg",)
    assert rows["quadratic + logreg"].contains == ("logreg", "quadratic")
    assert 0 < same.seconds < 5
    assert rows["quadratic + logreg"].seconds > same.seconds
    for row in rows.values():
        assert set(row.taus) == set(PLAN.tasks)
        assert all(-1 <= t <= 1 for t in row.taus.values())
    table = markdown_table(list(rows.values()), PLAN.tasks)
    assert "| logreg (contains logreg) |" in table and "+1.00" in table


def test_scores_read_off_a_training():
    curve = np.array([4.0, 3.0, 2.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 2.0])
    result = EvalResult(0.5, curve, "ok", 0.1, (0.5,))
    assert score_of(result, Score.VALIDATION) == 0.5
    assert score_of(result, Score.FINAL_TRAINING) == 2.0      # the last 10% of 10 steps
    assert score_of(result, Score.MEAN_TRAINING) == pytest.approx(1.7)
    failed = EvalResult(math.inf, curve, "diverged", 0.1, (math.inf,))
    assert all(score_of(failed, s) == math.inf for s in Score)


def row(name, seconds, tau_other):
    return ProxyRow(Proxy(name, (TaskRef(name),)), seconds, {}, tau_other, tau_other, ())


def test_the_supported_proxy_is_the_cheapest_that_agrees():
    rows = [row("a", 0.01, 0.4), row("b", 0.05, 0.65), row("c", 0.02, 0.61), row("d", 0.5, 0.9)]
    assert supported(rows) == (rows[2], True)
    rows = [row("a", 0.01, 0.4), row("b", 0.05, math.nan), row("c", 0.02, 0.5)]
    assert supported(rows) == (rows[2], False)


def test_candidates_leave_out_the_targets_and_larger_tasks():
    plan = funnel_plan()
    proxies = candidate_proxies(plan.tasks)
    names = [p.name for p in proxies]
    assert len(set(names)) == len(names)
    singles = {p.tasks[0].name for p in proxies if len(p.tasks) == 1}
    assert not singles & set(plan.tasks)
    assert all(get_task(t.name).scale != "100x" for p in proxies for t in p.tasks)
    assert {"digits-mlp", "text-lm-micro", "digits (portfolio)",
            "digits-mlp, mean training loss", "digits-mlp-b512",
            "digits-cnn-mini batch 512"} <= set(names)


def test_the_shipped_targets_match_the_shipped_corpus():
    programs = load_corpus(CORPUS)
    targets = read_targets(programs)
    assert targets.plan == funnel_plan()
    assert len(programs) >= 50
    finite = [r.loss for per in targets.results.values() for r in per.values()
              if math.isfinite(r.loss)]
    assert len(finite) > 0.8 * len(programs) * len(targets.plan.tasks)


def test_the_cli_says_when_the_targets_do_not_match(corpus, tmp_path):
    out = subprocess.run([sys.executable, "-m", "lion_search.cli", "bench", "--proxies",
                          "--corpus", str(corpus), "--targets-file", str(tmp_path / "none.json")],
                         check=False, capture_output=True, text=True)
    assert out.returncode != 0
    assert "cannot read the proxy targets" in out.stderr + out.stdout
    assert "Traceback" not in out.stderr
