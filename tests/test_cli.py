"""The command line: programs, show, export, and one-line errors with a non-zero exit."""
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from lion_search.cli.entry import main
from lion_search.language.library import seed_names


def run_cli(*args, cwd=None):
    """Run the installed `lion-search` console script (beside this Python, or on PATH)."""
    beside = Path(sys.executable).parent / "lion-search"
    exe = str(beside) if beside.exists() else shutil.which("lion-search")
    assert exe, "lion-search is not installed (pip install -e .)"
    return subprocess.run([exe, *args], capture_output=True, text=True, cwd=cwd)


def test_programs_lists_every_seed_with_its_memory_cost(capsys):
    assert main(["programs"]) == 0
    out = capsys.readouterr().out
    for name in seed_names():
        assert name in out
    assert "memory" in out


def test_show_prints_the_program_and_memory_cost(capsys):
    assert main(["show", "lion"]) == 0
    out = capsys.readouterr().out
    assert "memory cost 1" in out
    assert "def lion(w, g, lr, t, m):" in out


def test_show_reads_a_file(tmp_path, capsys):
    path = tmp_path / "mine.py"
    path.write_text("def mine(w, g, lr, t, a, b):\n    a = interp(g, a, 0.9)\n"
                    "    b = b + rms(g)\n    return lr * a / b, a, b\n")
    assert main(["show", str(path)]) == 0
    assert "memory cost 1 (parameter-sized copies, 2 slot(s))" in capsys.readouterr().out


def test_export_writes_a_module(tmp_path):
    out = tmp_path / "adam_opt.py"
    result = run_cli("export", "adam", "-o", str(out))
    assert result.returncode == 0, result.stderr
    assert "def optimizer(learning_rate" in out.read_text()


@pytest.mark.parametrize("args,message", [
    (["show", "no_such_seed"], "unknown program 'no_such_seed'"),
    (["show", "missing/file.py"], "cannot read program file"),
    (["export", "lion", "-o", "out.txt"], "must be a .py file"),
    (["eval", "sgd", "--vs", "adam", "--steps", "-5"], "steps must be a positive integer, got -5"),
])
def test_errors_are_one_line_without_traceback(args, message, tmp_path):
    result = run_cli(*args, cwd=tmp_path)
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0]
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("content", [
    b"def p(w, g, lr, t):\n    return __import__('os').system('touch pwned')\n",
    b"\x7fELF\x00\x00binary",
    b"",
])
def test_hostile_or_broken_files_are_rejected_in_one_line(tmp_path, content):
    path = tmp_path / "bad.py"
    path.write_bytes(content)
    result = run_cli("show", str(path))
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1
    assert str(path) in result.stderr
    assert not (tmp_path / "pwned").exists()


# ------------------------------------------------------------------ commands on a real run

@pytest.fixture(scope="module")
def run(tmp_path_factory):
    from tests.conftest import small_run
    return small_run(tmp_path_factory)


def test_show_run_table_and_json(run, capsys):
    assert main(["show", str(run)]) == 0
    out = capsys.readouterr().out
    assert "best programs" in out and "best program by proxy fitness (#" in out
    assert main(["show", str(run), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["evaluations"] == 40 and data["best"]["program"].startswith("def ")
    assert {"id", "fitness", "delta", "memory", "length", "evaluation", "cache_hits"} <= set(data["top"][0])


def test_show_run_program_with_ancestry(run, capsys):
    assert main(["show", f"{run}:best"]) == 0
    out = capsys.readouterr().out
    assert "fitness" in out and "ancestry: #" in out
    assert main(["show", f"{run}:best", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["ancestry"][0]["origin"] == "seed" and data["program"].startswith("def ")


def test_show_lineage_as_text_and_json(run, capsys):
    assert main(["show", str(run), "--lineage", "best"]) == 0
    assert "seed" in capsys.readouterr().out
    assert main(["show", str(run), "--lineage", "best", "--json"]) == 0
    steps = json.loads(capsys.readouterr().out)
    assert steps[0]["origin"] == "seed"
    assert all(step["diff"] for step in steps[1:])


def test_report_and_runs_commands(run, tmp_path, capsys):
    import shutil

    folder = tmp_path / "runs" / "copy"
    shutil.copytree(run, folder)
    assert main(["report", str(folder)]) == 0
    assert (folder / "report.html").is_file() and (folder / "fitness.png").is_file()
    assert (folder / "hall_of_fame.csv").is_file()
    capsys.readouterr()
    assert main(["runs", str(tmp_path / "runs"), "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert listed[0]["trained"] == 40 and listed[0]["state"] == "finished"
    assert main(["runs", str(tmp_path / "runs")]) == 0
    assert "finished" in capsys.readouterr().out


def test_unknown_program_id_in_a_run_is_one_line(run):
    result = run_cli("show", f"{run}:99999")
    assert result.returncode == 2 and "has no program 99999" in result.stderr


def test_export_a_run_program_by_id_and_best(run, tmp_path):
    for ref in ("best", "1"):
        out = tmp_path / f"opt_{ref}.py"
        result = run_cli("export", f"{run}:{ref}", "-o", str(out))
        assert result.returncode == 0, result.stderr
        assert "def optimizer(learning_rate" in out.read_text()
