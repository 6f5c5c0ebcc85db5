"""What a command that only reads programs imports: no JAX (1.3 s and more, the most of what
`show RUN:ID` took). The ops find their JAX implementations on first use."""
import subprocess
import sys

from lion_search.language import ops, runtime

READ_A_PROGRAM = """
import sys

import lion_search.cli.show
from lion_search.language.library import read_program
from lion_search.language.parser import parse_program
from lion_search.language.shapes import memory_cost
from lion_search.simplify import remove_dead

program = read_program("lion")
assert parse_program(str(program)) == program == remove_dead(program)
assert memory_cost(program) == 1.0
print("jax" in sys.modules)
"""


def test_reading_printing_and_costing_a_program_imports_no_jax():
    done = subprocess.run([sys.executable, "-c", READ_A_PROGRAM], capture_output=True,
                          text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False"


def test_each_op_runs_its_runtime_implementation():
    assert all(op.fn is getattr(runtime, f"op_{name}") for name, op in ops.OPS.items())
    assert ops.functions() == {name: op.fn for name, op in ops.OPS.items()}
    assert float(ops.OPS["div"].fn(1.0, 0.0)) == 0.0


SHOW_A_PROGRAM_OF_A_RUN = """
import contextlib
import io
import sys

from lion_search.cli.entry import main

with contextlib.redirect_stdout(io.StringIO()) as shown:
    assert main(["show", sys.argv[1]]) == 0
assert "retune of adamw" in shown.getvalue() or "adamw itself" in shown.getvalue()
print("jax" in sys.modules)
"""


def test_show_run_id_imports_no_jax_once_the_seed_forms_are_kept(tmp_path_factory):
    """Relating a program to the seeds reads their canonical forms, kept on disk; computing
    them folds constants with the JAX ops (adax's log1p(0.0001))."""
    from lion_search.analysis.canonical_seeds import canonical_seeds
    from lion_search.runs.journal import RunStore
    from tests.conftest import small_run

    folder = small_run(tmp_path_factory)
    canonical_seeds()   # kept where the session's commands read them ($LION_SEARCH_SEED_FORMS)
    store = RunStore.open(folder)
    seed, = store.value("seeds")
    store.close()
    done = subprocess.run([sys.executable, "-c", SHOW_A_PROGRAM_OF_A_RUN,
                           f"{folder}:{seed['id']}"], capture_output=True, text=True,
                          timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False"
