"""The run report on a real small run: PNG plots in the run folder and a self-contained HTML
page that embeds them, with the funnel table when the run has a funnel.json."""
import base64
import io
import json
import re
import shutil
import subprocess
import tempfile

import matplotlib.image
import numpy as np
import pytest

from lion_search.inspect.report.page import write_report
from lion_search.inspect.report.series import rolling_failed, rolling_median, throughput
from lion_search.inspect.report.tables import funnel_html
from lion_search.runs.journal import RunStore
from tests.conftest import small_run

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
DATA_URI = re.compile(r'<img id="plot-(\w+)" alt="[^"]*" src="data:image/png;base64,([^"]+)"')

FUNNEL = {
    "run": "runs/x",
    "stages": [
        {"name": "A", "tasks": ["digits-mlp"], "seeds": [0, 1], "rule": "mean_ratio",
         "baselines": [{"name": "adamw", "results": {"digits-mlp": {
             "fitness": 0.0523, "spread": 0.001, "lr": 0.003}}}],
         "candidates": [
             {"name": "c17", "id": 17, "passed": True, "results": {"digits-mlp": {
                 "fitness": 0.0401, "spread": 0.002, "lr": 0.001}}},
             {"name": "c23", "id": 23, "passed": False, "results": {"digits-mlp": {
                 "fitness": None, "spread": None, "lr": None}}}]},
        {"name": "B", "tasks": ["digits-mlp-10x", "char-lm"], "seeds": [0, 1, 2],
         "baselines": [{"name": "lion", "results": {
             "digits-mlp-10x": {"fitness": 0.1, "spread": None, "lr": 0.0003},
             "char-lm": {"fitness": 2.1, "spread": 0.01, "lr": 0.001}}}],
         "candidates": [{"name": "c17", "id": 17, "passed": True, "results": {
             "digits-mlp-10x": {"fitness": 0.09, "spread": 0.004, "lr": 0.0003},
             "char-lm": {"fitness": 2.05, "spread": 0.02, "lr": 0.001}}}]}],
    "winners": [{"name": "c17", "id": 17, "stage": "B", "path": "winners/c17.py"}],
}


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A private copy of the shared small run (the report writes into its folder)."""
    folder = tmp_path_factory.mktemp("report") / "run"
    shutil.copytree(small_run(tmp_path_factory), folder)
    for stale in ("report.html", "fitness.png", "metaval.png", "pareto.png", "throughput.png",
                  "funnel.json"):
        (folder / stale).unlink(missing_ok=True)
    return folder


def embedded(page: str) -> dict[str, bytes]:
    return {name: base64.b64decode(data) for name, data in DATA_URI.findall(page)}


def assert_png(data: bytes) -> None:
    assert data.startswith(PNG_SIGNATURE)
    image = matplotlib.image.imread(io.BytesIO(data), format="png")
    assert image.shape[0] > 200 and image.shape[1] > 400
    assert image[..., :3].std() > 0.01          # not a blank canvas


def test_report_embeds_every_plot_and_writes_the_pngs(run):
    store = RunStore.open(run)
    meta = store.count("metaval")
    path = write_report(store)
    store.close()
    assert path == run / "report.html"
    page = path.read_text()
    images = embedded(page)
    expected = {"fitness", "pareto", "throughput"} | ({"metaval"} if meta else set())
    assert set(images) == expected
    for name, data in images.items():
        assert_png(data)
        assert (run / f"{name}.png").read_bytes() == data
    if not meta:
        assert not (run / "metaval.png").exists()
        assert "No meta-validation evaluations" in page
    # Self-contained: nothing is fetched from disk or network when the page opens.
    assert not re.search(r'(src|href)="(?!data:)', page)
    assert "<script" not in page and "<link" not in page
    assert not [p for p in run.iterdir() if p.name.endswith(".tmp")]


def test_report_tables_show_the_run(run):
    store = RunStore.open(run)
    write_report(store)
    best = store.best(1)[0][0]
    seed = store.value("seeds")[0]
    trained = store.count("search", cached=False)
    store.close()
    page = (run / "report.html").read_text()
    for text in (f"Best program by proxy fitness (#{best.id}", "Top ", "Pareto front", "Seeds", "Run config",
                 f"trained <b>{trained}</b>", f"#{seed['id']}", "its lineage from the seed",
                 "population"):
        assert text in page, text
    assert "def adamw(w, g, lr, t, m, v):" in page
    assert "Funnel" not in page                    # no funnel.json in this run


def test_meta_validation_is_plotted_when_the_run_has_it(run, tmp_path):
    folder = tmp_path / "run"
    shutil.copytree(run, folder)
    store = RunStore.open(folder)
    best = store.best(1)[0][0].id
    for fitness in (0.9, 0.7, float("inf"), 0.6):
        store.add_evaluation(best, kind="metaval", fitness=fitness, status="ok",
                             task="bigger-task", seeds=(0,), seconds=0.1, worker="metaval")
    write_report(store)
    store.close()
    page = (folder / "report.html").read_text()
    assert_png(embedded(page)["metaval"])
    assert (folder / "metaval.png").is_file() and "No meta-validation" not in page


def test_funnel_table_renders_from_funnel_json(run, tmp_path):
    folder = tmp_path / "run"
    shutil.copytree(run, folder)
    (folder / "funnel.json").write_text(json.dumps(FUNNEL))
    store = RunStore.open(folder)
    write_report(store)
    store.close()
    page = (folder / "report.html").read_text()
    funnel = page[page.index("<h2>Funnel</h2>"):page.index("<h2>Run config</h2>")]
    assert "Stage A: digits-mlp (seeds 0, 1; pass rule mean_ratio)" in funnel
    assert "Stage B: digits-mlp-10x, char-lm (seeds 0, 1, 2)" in funnel
    assert funnel.count('<span class="pass">passed</span>') == 2
    assert funnel.count('<span class="fail">out</span>') == 1
    assert "0.0401 &plusmn; 0.002" in funnel and "lr 0.003" in funnel
    assert ">failed<" in funnel                                   # a null fitness
    assert "<code>winners/c17.py</code>" in funnel and "Winners" in funnel
    assert funnel.count("<table>") == 3                          # two stages and the winners


def test_a_broken_funnel_json_is_reported_not_raised(run, tmp_path):
    folder = tmp_path / "run"
    shutil.copytree(run, folder)
    (folder / "funnel.json").write_text("{not json")
    store = RunStore.open(folder)
    write_report(store)
    store.close()
    assert "funnel.json could not be read" in (folder / "report.html").read_text()


def test_funnel_without_winners_says_so():
    funnel = {"stages": [dict(FUNNEL["stages"][0], candidates=[])], "winners": []}
    assert "No winner" in funnel_html(funnel)


def test_report_on_a_run_with_no_search_evaluation_yet(tmp_path):
    """A run that was just started (seeds calibrating) still gets a report."""
    store = RunStore.create(tmp_path / "fresh", {"task": "quadratic", "budget": 10,
                                                "population": 4})
    path = write_report(store)
    store.close()
    images = embedded(path.read_text())
    assert set(images) == {"fitness", "pareto", "throughput"}
    for data in images.values():
        assert data.startswith(PNG_SIGNATURE)


def test_rolling_statistics_leave_failures_out_of_the_median():
    inf = float("inf")
    fitness = np.array([3.0, inf, 1.0, inf, inf, 2.0])
    np.testing.assert_allclose(rolling_median(fitness, 3), [3, 3, 2, 1, 1, 2])
    np.testing.assert_allclose(rolling_failed(fitness, 3), [0, 0.5, 1 / 3, 2 / 3, 2 / 3, 2 / 3])
    assert np.isnan(rolling_median(np.array([inf, inf]), 2)).all()


def test_throughput_bins_trained_rate_and_cache_hits():
    created = np.array([0.0, 0.5, 1.0, 1.5, 9.0, 9.5])
    cached = np.array([False, True, False, False, True, True])
    centres, rate, hits, width = throughput(created, cached, bins=2)
    assert width == pytest.approx(4.75)
    np.testing.assert_allclose(rate * width, [3, 0])
    np.testing.assert_allclose(hits, [0.25, 1.0])


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (apt-get install "
                    "chromium); this test renders report.html headless and looks for the plots")
def test_report_renders_in_headless_chromium_with_its_plots(run, tmp_path):
    store = RunStore.open(run)
    path = write_report(store)
    store.close()
    shot = tmp_path / "report.png"
    with tempfile.TemporaryDirectory() as profile:
        subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu",
                        "--disable-background-networking", "--disable-component-update",
                        "--disable-sync", "--no-first-run", f"--user-data-dir={profile}",
                        f"--screenshot={shot}", "--window-size=1200,2400",
                        path.resolve().as_uri()],
                       capture_output=True, timeout=120, check=False)
    assert shot.is_file(), "chromium wrote no screenshot"
    pixels = (matplotlib.image.imread(shot)[..., :3] * 255).astype(int)
    assert pixels.shape[:2] == (2400, 1200)

    def count(rgb):
        return int((np.abs(pixels - np.array(rgb)).max(axis=-1) <= 12).sum())

    # The page's own colours are black, greys and dark green/red text; these come only from
    # the embedded plots: the best-so-far line (tab:blue), the population median (tab:orange),
    # the Pareto front (tab:red) and the cache hit rate (tab:green).
    for name, rgb in (("tab:blue", (31, 119, 180)), ("tab:orange", (255, 127, 14)),
                      ("tab:red", (214, 39, 40))):
        assert count(rgb) > 200, f"no {name} pixels: a plot did not render"
