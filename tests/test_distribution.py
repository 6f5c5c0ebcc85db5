"""The distribution works outside the checkout: the wheel, installed into a fresh virtual
environment, has the seed programs, and a search from a seed writes `runs/` in the current
folder."""
import json
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
NOT_SHIPPED = shutil.ignore_patterns(".git", ".venv", "runs", "build", "dist", "*.egg-info",
                                     "__pycache__", ".hypothesis", ".pytest_cache", ".ruff_cache")


def build_wheel(tmp_path: Path) -> Path:
    """The project's wheel, built from a copy of the checkout (so that the build's own files
    stay out of it) without build isolation: setuptools comes from this environment."""
    source = tmp_path / "source"
    shutil.copytree(ROOT, source, ignore=NOT_SHIPPED)
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps",
                    "--no-build-isolation", "--wheel-dir", str(tmp_path / "dist"), str(source)],
                   check=True, capture_output=True, text=True)
    return next((tmp_path / "dist").glob("lion_search-*.whl"))


def fresh_venv(tmp_path: Path) -> Path:
    """A new virtual environment whose dependencies (jax, ray, ...) come from this one's
    site-packages, appended to its path by a .pth file (whose own .pth files, such as an
    editable install of this checkout, are not run)."""
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    purelib = subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_paths()"
                              "['purelib'])"], check=True, capture_output=True, text=True)
    Path(purelib.stdout.strip(), "dependencies.pth").write_text(
        sysconfig.get_paths()["purelib"] + "\n")
    return venv


@pytest.mark.slow  # builds and installs the wheel: about 35 s
def test_the_installed_wheel_has_the_seeds_and_runs_a_search(tmp_path):
    wheel = build_wheel(tmp_path)
    venv = fresh_venv(tmp_path)
    subprocess.run([sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"),
                    "install", "--quiet", "--no-deps", str(wheel)], check=True)
    work = tmp_path / "work"
    work.mkdir()

    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "LION_SEARCH_PROGRAMS")}
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env['PATH']}"

    def run(*args: str) -> str:
        result = subprocess.run(args, cwd=work, capture_output=True, text=True, timeout=600,
                                env=env)
        assert result.returncode == 0, f"{args}\n{result.stdout}\n{result.stderr}"
        return result.stdout

    module = run(str(venv / "bin" / "python"), "-c",
                 "import lion_search; print(lion_search.__file__)").strip()
    assert Path(module).is_relative_to(venv) and not Path(module).is_relative_to(ROOT)
    seeds = sorted(p.stem for p in (ROOT / "programs").glob("*.py"))
    listed = run("lion-search", "programs")
    assert all(name in listed for name in seeds) and str(venv) in listed
    assert "def lion(w, g, lr, t, m):" in run("lion-search", "show", "lion")
    run("lion-search", "evolve", "--task", "quadratic", "--seed-programs", "lion",
        "--budget", "6", "--population", "8", "--workers", "1", "--promote-every", "0")
    runs = [p for p in (work / "runs").iterdir() if p.name != "latest"]
    assert len(runs) == 1 and (work / "runs" / "latest").resolve() == runs[0].resolve()
    summary = json.loads(run("lion-search", "show", "runs/latest", "--json"))
    assert summary["evaluations"] == 6 and summary["seeds"][0]["name"] == "lion"
