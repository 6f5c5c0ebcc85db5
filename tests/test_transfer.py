"""A search that watches its transfer: the Kendall tau between proxy fitness and promoted score
over the promoted programs, journaled after each promotion round, shown by the live view,
`show` and the report, and a warning once the proxy misleads over at least 8 programs."""
import io
import json
import math

import pytest
from rich.console import Console

from lion_search.cli import main
from lion_search.inspect.live import LiveView
from lion_search.runs.journal import EvalKind, RunStore
from lion_search.runs.transfer import MISLEADING_AFTER, journal_transfer, transfer
from lion_search.search.config import EvolveConfig
from lion_search.search.promotion import tune_references
from tests.conftest import finished_search


def promoted_store(folder, pairs):
    """A journal whose promoted programs have the given (proxy fitness, promoted score)."""
    store = RunStore.create(folder, EvolveConfig(task="quadratic", budget=10).to_json())
    for i, (fitness, score) in enumerate(pairs):
        pid = store.add_program(f"def p{i}(w, g, lr, t):\n    return lr * g\n",
                                (f"h{i}", f"f{i}"), None, "test", "child")
        store.add_evaluation(pid, kind="search", fitness=fitness, status="ok", task="quadratic",
                             seeds=(0,), seconds=0.1, worker="t")
        store.add_evaluation(pid, kind="promoted", fitness=score,
                             status="ok" if math.isfinite(score) else "failed",
                             task="rosenbrock", seeds=(0,), seconds=0.1, worker="promotion")
    return store


def reversed_pairs(n):
    """n programs whose better proxy fitness goes with a worse promoted score."""
    return [(float(i), float(n - i)) for i in range(n)]


def test_tau_between_proxy_fitness_and_promoted_score(tmp_path):
    store = promoted_store(tmp_path / "run", [(0.1, -0.3), (0.2, -0.1), (0.3, math.inf),
                                              (0.4, 0.2)])
    now = transfer(store)
    assert now.promoted == 4
    # one discordant pair of six: (0.3, failed) against (0.4, 0.2)
    assert now.tau == pytest.approx(4 / 6)
    assert not now.misleading and now.warning() is None
    assert "Kendall tau +0.67" in now.describe() and "4 promoted programs" in now.describe()
    assert now.to_json()["points"][2]["score"] is None


def test_a_proxy_misleads_once_tau_is_negative_over_eight_programs(tmp_path):
    few = transfer(promoted_store(tmp_path / "few", reversed_pairs(MISLEADING_AFTER - 1)))
    assert few.tau == pytest.approx(-1.0) and not few.misleading
    many = transfer(promoted_store(tmp_path / "many", reversed_pairs(MISLEADING_AFTER)))
    assert many.misleading
    assert "the proxy is misleading this search" in many.warning()
    assert math.isnan(transfer(promoted_store(tmp_path / "one", [(0.1, 0.2)])).tau)


def test_the_transfer_is_journaled_round_by_round(tmp_path):
    store = promoted_store(tmp_path / "run", reversed_pairs(3))
    journal_transfer(store, 20)
    store.add_evaluation(store.add_program("def q(w, g, lr, t):\n    return lr * g\n",
                                           ("hq", "fq"), None, "test", "child"),
                         kind="promoted", fitness=5.0, status="ok", task="rosenbrock",
                         seeds=(0,), seconds=0.1, worker="promotion")
    journal_transfer(store, 40)
    history = store.value("transfer")
    assert [h["trained"] for h in history] == [20, 40]
    assert [h["promoted"] for h in history] == [3, 4]
    assert history[0]["tau"] == pytest.approx(-1.0)


def test_the_live_view_warns_when_the_proxy_misleads(tmp_path):
    out = io.StringIO()
    view = LiveView(Console(file=out, width=200))
    view.transfer(transfer(promoted_store(tmp_path / "ok", [(0.1, 0.1), (0.2, 0.2)])))
    assert "Kendall tau +1.00" in out.getvalue() and "misleading" not in out.getvalue()
    view.transfer(transfer(promoted_store(tmp_path / "bad", reversed_pairs(9))))
    assert "the proxy is misleading this search" in out.getvalue()


def test_show_gives_the_tau_and_warns(tmp_path, capsys):
    store = promoted_store(tmp_path / "bad", reversed_pairs(MISLEADING_AFTER))
    store.set_value("seeds", [])
    store.close()
    assert main(["show", str(tmp_path / "bad")]) == 0
    out = capsys.readouterr().out
    assert "Kendall tau -1.00" in out
    assert "the proxy is misleading this search" in out
    assert main(["show", str(tmp_path / "bad"), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["transfer"]["tau"] == pytest.approx(-1.0) and data["transfer"]["misleading"]


@pytest.fixture(scope="module")
def search_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("transfer") / "run"
    # (80 trainings: on quadratic most mutants diverge, and 60 promoted only 2)
    config = EvolveConfig(task="quadratic", budget=80, population=8, workers=1,
                          promote_every=10, promote_top=2, promote_tasks="rosenbrock",
                          promote_share=1.0, promote_trials=4, seed_programs=("adamw", "sgd"),
                          confirm_top=3, generation=8)
    # AdamW tuned beforehand (kept in the studies), so that every round comes on its cadence
    tune_references(config.promotion[0], config.promote_seeds, config.promote_trials)
    finished_search(folder, config)
    return folder


def test_a_search_journals_its_transfer_after_each_round(search_run):
    store = RunStore.open(search_run)
    history = store.value("transfer")
    now = transfer(store)
    store.close()
    assert history and history[-1]["promoted"] == now.promoted >= 4
    assert [h["promoted"] for h in history] == sorted(h["promoted"] for h in history)
    last = history[-1]["tau"]
    assert (last is None and math.isnan(now.tau)) or last == pytest.approx(now.tau)


def test_the_report_plots_promoted_score_against_proxy_fitness(tmp_path):
    from lion_search.inspect.report.page import write_report

    store = promoted_store(tmp_path / "bad", reversed_pairs(MISLEADING_AFTER))
    store.set_value("seeds", [])
    path = write_report(store)
    store.close()
    html = path.read_text()
    assert 'id="plot-transfer"' in html and (tmp_path / "bad" / "transfer.png").is_file()
    assert "Kendall tau -1.00" in html and "the proxy is misleading this search" in html


def test_the_end_of_run_summary_starts_with_the_best_by_promoted_score(search_run, capsys):
    from lion_search.cli.evolve import _print_outcome

    _print_outcome(search_run, "finished")
    out = capsys.readouterr().out
    store = RunStore.open(search_run)
    best = store.best(1, EvalKind.PROMOTED)[0][0].id
    store.close()
    first, transfer_line, leaders = (out.index(f":best (#{best}) is "),
                                     out.index("transfer: "), out.index("the proxy's leaders"))
    assert first < transfer_line < leaders
    assert "the run's best by promoted score" in out
