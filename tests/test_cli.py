"""The command line: programs, show, export, and one-line errors with a non-zero exit."""
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from lion_search.cli import main
from lion_search.library import seed_names


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
    path.write_text("def mine(w, g, lr, t, a, b):\n    return lr * g, a, b\n")
    assert main(["show", str(path)]) == 0
    assert "memory cost 2" in capsys.readouterr().out


def test_export_writes_a_module(tmp_path):
    out = tmp_path / "adam_opt.py"
    result = run_cli("export", "adam", "-o", str(out))
    assert result.returncode == 0, result.stderr
    assert "def optimizer(learning_rate" in out.read_text()


@pytest.mark.parametrize("args,message", [
    (["show", "no_such_seed"], "unknown program 'no_such_seed'"),
    (["show", "missing/file.py"], "cannot read program file"),
    (["export", "lion", "-o", "out.txt"], "must be a .py file"),
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
