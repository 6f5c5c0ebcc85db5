"""The README as executable documentation (issue 14): its bash blocks run in order, in one
temporary folder, and the test fails at the first command that fails.

The rule, for every ```bash block of README.md (tests/readme_blocks.py reads them):
- Every command line of the block runs (comments and blank lines dropped), in README order, so
  later commands see what earlier ones wrote (`runs/latest`, `my_opt.py`).
- Blocks in a section that another test runs as written are left to that test:
  SECTIONS_RUN_ELSEWHERE below ("Your own task": tests/test_user_task.py; "Running on a
  cluster": tests/test_cluster.py, slow: it starts a two-node Ray cluster).
- Lines that cannot run inside a test are skipped by rule: `pip install ...` (the test runs in
  the installed checkout; in `pip install X && CMD` only CMD runs), and `python -m pytest` (the
  suite itself).
- `lion-search ...` lines run in-process through the console script's entry point
  (`lion_search.cli.main`, exit status 0 expected), with only these changes so that the whole
  README runs in about a minute on 2 cores (SHRINK below): `evolve` gets a budget of 12 on the
  quadratic task, one in-process worker, a population of 6, no promotion and no
  meta-validation; `eval` trains 40 steps (`--steps 1000` too), 1 seed at 2 learning rates;
  `tune` 2 trials of 40 steps, 1 seed; `funnel` takes its best program through one stage on the
  run's own task. Any other line runs in a shell.
"""
import shlex
import subprocess
import time

import pytest
from readme_blocks import all_blocks, commands

from lion_search.cli.entry import main

SECTIONS_RUN_ELSEWHERE = {"Your own task": "tests/test_user_task.py",
                          "Running on a cluster": "tests/test_cluster.py"}
SKIPPED_PREFIXES = ("pip install", "python -m pytest")

STAGES = """{"stages": [{"name": "A", "tasks": ["{proxy}"], "seeds": [0], "pass": "every_task"}],
 "baselines": ["adamw"], "baseline_grid": [0.01, 0.1], "candidate_grid": [0.3, 1.0]}"""


def set_option(args: list[str], option: str, value: str) -> list[str]:
    """`args` with `option` set to `value` (replaced where present, else appended)."""
    if option in args:
        i = args.index(option)
        return args[:i + 1] + [value] + args[i + 2:]
    return args + [option, value]


def shrink(args: list[str], folder) -> list[str]:
    """A lion-search command line made small enough for the test (see the module docstring)."""
    changes = {"evolve": {"--budget": "12", "--task": "quadratic", "--workers": "1",
                          "--population": "8", "--promote-every": "0",
                          "--metaval-every": "1000"},
               "eval": {"--seeds": "0", "--grid": "0.01,0.1", "--steps": "40"},
               "funnel": {"--top": "1", "--stages": str(folder / "stages.json")},
               "tune": {"--trials": "2", "--seeds": "0", "--steps": "40"}}
    for option, value in changes.get(args[0], {}).items():
        args = set_option(args, option, value)
    return args


def runnable() -> list[tuple[str, str]]:
    """(section, command) of every README command the test runs, in order."""
    out = []
    for section, language, code in all_blocks():
        if language != "bash" or section in SECTIONS_RUN_ELSEWHERE:
            continue
        for line in commands(code):
            parts = [p.strip() for p in line.split("&&")]
            parts = [p for p in parts if not p.startswith(SKIPPED_PREFIXES)]
            out += [(section, part) for part in parts]
    return out


def test_the_rule_finds_the_readme_commands():
    found = [c for _, c in runnable()]
    assert found[0] == "lion-search evolve"                       # after `pip install -e . &&`
    assert "lion-search export runs/latest:best -o my_opt.py" in found
    assert not any(c.startswith(SKIPPED_PREFIXES) for c in found)
    sections = {s for s, *_ in all_blocks()}
    assert set(SECTIONS_RUN_ELSEWHERE) <= sections               # renamed? update the rule


def test_the_readme_commands_run_in_order(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "stages.json").write_text(STAGES)
    timings = []
    for section, command in runnable():
        started = time.perf_counter()
        args = shlex.split(command)
        if args[0] == "lion-search" and not set(args) & {"|", ">", ";", "&&", "||"}:
            code = main(shrink(args[1:], tmp_path))
            captured = capsys.readouterr()
            output = captured.out + captured.err
        else:
            result = subprocess.run(command, shell=True, capture_output=True, text=True,
                                    timeout=300)
            code, output = result.returncode, result.stdout + result.stderr
        timings.append((time.perf_counter() - started, command))
        if code != 0 or "Traceback" in output:
            pytest.fail(f"README section {section or 'top'!r}: `{command}` exited {code}:\n"
                        f"{output[-3000:]}")
    assert len(timings) >= 10
    print("\n".join(f"{s:6.1f} s  {c}" for s, c in timings))
