"""The program language: parsing, printing, round trips and errors."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lion_search import ProgramError, parse_program
from lion_search.language.direct import run_program
from lion_search.language.ops import CALLABLE_OPS, OPS, Kind
from lion_search.language.parser import normalize
from lion_search.language.program import SHAPE_INPUTS, Instr, Program, print_program

# ------------------------------------------------------------------------------ generated text

BINARY = ["+", "-", "*", "/", "%", "**", "<", "<=", ">", ">=", "==", "!="]
NAMES = ["a", "b", "c", "m"]


def constants():
    return st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False).map(
        lambda x: f"({x!r})" if x < 0 else repr(x)) | st.integers(0, 100).map(str)


@st.composite
def expressions(draw, names, depth=3):
    """Random, fully parenthesized expression text over `names`."""
    if depth == 0 or draw(st.integers(0, 3)) == 0:
        return draw(st.sampled_from(names) | constants())
    sub = expressions(names, depth - 1)
    kind = draw(st.sampled_from(["binary", "neg", "call"]))
    if kind == "binary":
        return f"({draw(sub)} {draw(st.sampled_from(BINARY))} {draw(sub)})"
    if kind == "neg":
        return f"(-{draw(sub)})"
    op = draw(st.sampled_from(CALLABLE_OPS))
    return f"{op}({', '.join(draw(sub) for _ in range(OPS[op].arity))})"


@st.composite
def program_texts(draw):
    """Random program text: memory slots, assignments (some reassigning names), a return."""
    memory = draw(st.lists(st.sampled_from(["m", "v", "s"]), unique=True, max_size=3))
    defined = ["w", "g", "lr", "t", *SHAPE_INPUTS, *memory]
    lines = [f"def prog({', '.join(['w', 'g', 'lr', 't', *memory])}):"]
    for _ in range(draw(st.integers(0, 6))):
        target = draw(st.sampled_from(NAMES + memory))
        lines.append(f"    {target} = {draw(expressions(defined))}")
        defined = sorted(set(defined) | {target})
    outputs = [draw(expressions(defined)) for _ in range(1 + len(memory))]
    if draw(st.booleans()):
        outputs.append(f"eval_at({draw(expressions(defined))})")
    lines.append(f"    return {', '.join(outputs)}")
    return "\n".join(lines) + "\n"


@settings(max_examples=300, deadline=None)
@given(program_texts())
def test_parse_print_parse_is_identity(text):
    program = parse_program(text)
    printed = print_program(program)
    assert parse_program(printed) == program
    assert print_program(parse_program(printed)) == printed


# ------------------------------------------------------------------------- generated IR

@st.composite
def raw_programs(draw):
    """Random IR, not from the parser: temporaries used twice, reassigned names, dead code."""
    memory = ("m",)
    defined = ["w", "g", "lr", "t", "m", *SHAPE_INPUTS]
    body = []
    for _ in range(draw(st.integers(1, 10))):
        op = draw(st.sampled_from(sorted(OPS)))
        args = tuple(draw(st.sampled_from(defined) | st.floats(-3, 3)) for _ in range(OPS[op].arity))
        dst = draw(st.sampled_from(["_1", "_2", "_3", "x", "m", "g"]))
        body.append(Instr(dst, op, args))
        defined = sorted(set(defined) | {dst})
    outputs = tuple(draw(st.sampled_from(defined)) for _ in range(draw(st.sampled_from([2, 3]))))
    return Program("raw", memory, tuple(body), outputs)


def evaluate(program):
    """The program's outputs on fixed random inputs, each flattened to one vector (empty on the
    leaves where the program's plan leaves it uncomputed: a slot that nothing reads)."""
    rng = np.random.default_rng(0)
    w, g, m = ([rng.normal(size=(3,)).astype(np.float32), rng.normal(size=(2, 2)).astype(np.float32)]
               for _ in range(3))
    outputs = run_program(program, w, g, np.float32(0.1), np.float32(3.0), m, total_steps=50)
    return [np.hstack([np.ravel(x if x is not None else []) for x in v]) if isinstance(v, list)
            else np.ravel(v if v is not None else []) for v in outputs]


@settings(max_examples=200, deadline=None)
@given(raw_programs())
def test_printing_any_ir_keeps_its_meaning(program):
    canonical = normalize(program)
    assert normalize(canonical) == canonical
    for ours, theirs in zip(evaluate(program), evaluate(canonical)):
        np.testing.assert_allclose(ours, theirs, rtol=1e-6)


# ------------------------------------------------------------------------------- examples

def test_parser_lowers_to_single_op_instructions():
    program = parse_program("def p(w, g, lr, t, m):\n    m = interp(g, m, 0.9)\n"
                            "    return lr * sign(m) + 1e-3 * w, m\n")
    assert program.memory == ("m",)
    assert program.body == (
        Instr("m", "interp", ("g", "m", 0.9)), Instr("_1", "sign", ("m",)),
        Instr("_2", "mul", ("lr", "_1")), Instr("_3", "mul", (0.001, "w")),
        Instr("_4", "add", ("_2", "_3")))
    assert program.outputs == ("_4", "m")
    assert program.slots == 1


@pytest.mark.parametrize("text,expected", [
    ("x = -(a ** 2)", "x = -a ** 2"),
    ("x = (-a) ** 2", "x = (-a) ** 2"),
    ("x = a - (b - c)", "x = a - (b - c)"),
    ("x = (a - b) - c", "x = a - b - c"),
    ("x = (a < b) < c", "x = (a < b) < c"),
    ("x = a * -0.5", "x = a * -0.5"),
    ("x = (-0.5) ** a", "x = (-0.5) ** a"),
    ("x = neg(0.5)", "x = neg(0.5)"),
    ("x = 1e-08 + 2.0", "x = 1e-8 + 2"),
    ("x = sub(a, mul(b, c))", "x = a - b * c"),
    ("x = a\n    x += b", "x = a\n    x = x + b"),
])
def test_printer_writes_readable_python(text, expected):
    source = f"def p(w, g, lr, t):\n    a = g\n    b = w\n    c = lr\n    {text}\n    return x\n"
    printed = print_program(parse_program(source))
    assert expected in printed
    assert parse_program(printed) == parse_program(source)


def test_docstring_is_kept():
    program = parse_program('def p(w, g, lr, t):\n    "Plain SGD."\n    return lr * g\n')
    assert program.doc == "Plain SGD."
    assert parse_program(str(program)).doc == "Plain SGD."


# ---------------------------------------------------------------------------------- errors

BAD = [
    ("def p(w, g, lr, t):\n    return __import__('os')\n", "2:12", "unknown op '__import__'"),
    ("def p(w, g, lr, t):\n    return g.real\n", "2:12", "attribute access"),
    ("def p(w, g, lr, t):\n    for i in g:\n        pass\n    return g\n", "2:5", "for loops"),
    ("def p(w, g, lr, t):\n    while 1:\n        pass\n    return g\n", "2:5", "while loops"),
    ("import os\ndef p(w, g, lr, t):\n    return g\n", "1:1", "import statements"),
    ("def p(w, g, lr, t):\n    import os\n    return g\n", "2:5", "import statements"),
    ("def p(w, g, lr, t):\n    return g[0]\n", "2:12", "subscripts"),
    ("def p(w, g, lr, t):\n    return (lambda: g)()\n", "2:12", "only ops can be called"),
    ("def p(w, g, lr, t):\n    return foo(g)\n", "2:12", "valid ops: abs, add"),
    ("def p(w, g, lr, t):\n    return sign(g, w)\n", "2:12", "takes 1 argument"),
    ("def p(w, g, lr, t):\n    return q * g\n", "2:12", "name 'q' is used before"),
    ("def p(w, g, lr, t, m):\n    return g\n", "2:5", "expected 2"),
    ("def p(w, g, lr, t):\n    return g, w\n", "2:5", "expected 1"),
    ("def p(w, g, lr, t):\n    return g +\n", "2:", "syntax error"),
    ("def p(x, g, lr, t):\n    return g\n", "1:1", "must start with w, g, lr, t"),
    ("def p(w, g, lr, t, _m):\n    return g, _m\n", "1:", "reserved"),
    ("def p(w, g, lr, t):\n    x = 'text'\n    return g\n", "2:9", "not a number"),
    ("def p(w, g, lr, t):\n    x = g if w else t\n    return g\n", "2:9", "use where"),
    ("def p(w, g, lr, t):\n    x = a < b < c\n    return g\n", "2:9", "chained"),
    ("def p(w, g, lr, t):\n    return g\ndef q(w, g, lr, t):\n    return g\n", "3:1", "exactly one"),
    ("def p(w, g, lr, t):\n    return g // 2\n", "2:12", "FloorDiv is not allowed"),
    ("def p(w, g, lr, t):\n    x, y = g, w\n    return g\n", "2:5", "one plain name"),
    ("", "", "empty program"),
    ("   \n\n", "", "empty program"),
    (b"\x00\x01\x02binary", "", "not a text file"),
    (b"\xff\xfe def", "", "not a UTF-8 text file"),
]


@pytest.mark.parametrize("text,where,message", BAD)
def test_bad_programs_raise_one_clear_error(text, where, message):
    with pytest.raises(ProgramError) as info:
        parse_program(text, source="prog.py")
    error = str(info.value)
    assert "\n" not in error
    assert error.startswith(f"prog.py:{where}")
    assert message in error


def test_program_text_is_never_executed(tmp_path):
    marker = tmp_path / "pwned"
    text = (f"def p(w, g, lr, t):\n    x = open({str(marker)!r}, 'w')\n    return g\n"
            f"open({str(marker)!r}, 'w')\n")
    with pytest.raises(ProgramError):
        parse_program(text)
    assert not marker.exists()


def test_every_op_is_in_the_table_with_a_shape_rule():
    required = {"add", "sub", "mul", "div", "neg", "abs", "sign", "sqrt", "rsqrt", "square",
                "exp", "expm1", "log", "log1p", "pow", "max", "min", "interp", "clip", "tanh",
                "arcsin", "arctan", "lt", "le", "gt", "ge", "eq", "ne", "where", "mod"}
    assert required <= set(OPS)
    assert {op.kind for op in OPS.values()} == set(Kind)


# ------------------------------------------------------------- shape inputs and evaluation weights

def test_shape_inputs_are_read_without_declaring_them():
    program = parse_program("def p(w, g, lr, t):\n    return lr * g * sqrt(fan_out / fan_in) "
                            "* (rank == 2) * (1 - t / T)\n")
    assert {a for ins in program.body for a in ins.args} >= {"fan_out", "fan_in", "rank", "T"}


@pytest.mark.parametrize("name", ["rank", "fan_in", "fan_out", "T", "eval_at", "count"])
def test_reserved_names_cannot_be_assigned_or_be_slots(name):
    for text in (f"def p(w, g, lr, t):\n    {name} = g\n    return lr * g\n",
                 f"def p(w, g, lr, t, {name}):\n    return lr * g, g\n"):
        with pytest.raises(ProgramError, match=f"'{name}' is reserved"):
            parse_program(text)


def test_evaluation_weights_parse_print_and_count():
    text = ("def sf(w, g, lr, t, z):\n    z = where(t == 1, w, z)\n    x = (w - 0.1 * z) / 0.9\n"
            "    z = z - lr * g\n    return w - interp(z, x, 0.9), z, eval_at(x)\n")
    program = parse_program(text)
    assert program.has_eval and program.slots == 1 and program.outputs[-1] == "x"
    assert print_program(program).splitlines()[-1] == "    return w - interp(z, x, 0.9), z, eval_at(x)"
    assert not parse_program("def p(w, g, lr, t, m):\n    return lr * g, m\n").has_eval


@pytest.mark.parametrize("ret,message", [
    ("eval_at(w), lr * g, m", "comes last"),
    ("lr * g, m, eval_at(w, g)", "takes one argument"),
    ("lr * g, eval_at(w)", "expected 2: the update and the new values of m"),
    ("lr * g, m, eval_at(w), eval_at(w)", "comes last"),
])
def test_misplaced_evaluation_weights_are_one_clear_error(ret, message):
    with pytest.raises(ProgramError, match=message):
        parse_program(f"def p(w, g, lr, t, m):\n    return {ret}\n")


def test_programs_parse_in_many_threads_at_once():
    """Worker threads parse the programs they train; CPython 3.11's ast.parse alone fails
    under concurrency ("AST constructor recursion depth mismatch")."""
    from concurrent.futures import ThreadPoolExecutor

    from lion_search.language.library import seed_names
    from lion_search.runs.references import load_program

    texts = [str(load_program(name)) for name in seed_names()] * 20
    with ThreadPoolExecutor(4) as pool:
        parsed = list(pool.map(parse_program, texts))
    assert [str(p) for p in parsed] == texts
