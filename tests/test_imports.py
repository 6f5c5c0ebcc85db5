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
