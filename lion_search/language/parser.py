"""The parser: program text -> IR (`program.Program`), only ever parsed with `ast` and a whitelist.

Nested expressions are lowered into temporaries `_1`, `_2`, ... numbered in post-order, so that
parse(print(p)) == p; `normalize` is that round trip. Errors name the source, line and column,
say what was expected and list what is allowed."""
from __future__ import annotations

import ast
import functools
import threading

from lion_search.language.errors import ProgramError
from lion_search.language.ops import CALLABLE_OPS, OPS
from lion_search.language.program import (
    ALL_INPUTS,
    EVAL_MARK,
    INPUTS,
    RESERVED_NAMES,
    Arg,
    Instr,
    Program,
    is_temp,
    print_program,
)

# ----------------------------------------------------------------------------------- parsing

_BINOPS = {ast.Add: "add", ast.Sub: "sub", ast.Mult: "mul", ast.Div: "div", ast.Mod: "mod",
           ast.Pow: "pow"}
_CMPOPS = {ast.Lt: "lt", ast.LtE: "le", ast.Gt: "gt", ast.GtE: "ge", ast.Eq: "eq",
           ast.NotEq: "ne"}
_ALLOWED = ("names, numbers, the operators + - * / % ** < <= > >= == != and calls of ops: "
            + ", ".join(CALLABLE_OPS))
_STATEMENT_NAMES = {
    ast.For: "for loops", ast.While: "while loops", ast.If: "if statements",
    ast.Import: "import statements", ast.ImportFrom: "import statements",
    ast.With: "with statements", ast.Try: "try statements", ast.FunctionDef: "nested functions",
    ast.ClassDef: "classes", ast.Global: "global statements", ast.Nonlocal: "nonlocal statements",
    ast.Delete: "del statements", ast.Raise: "raise statements", ast.Assert: "assert statements",
    ast.Expr: "bare expressions", ast.Pass: "pass statements",
}
_EXPRESSION_NAMES = {
    ast.Attribute: "attribute access", ast.Subscript: "subscripts", ast.Lambda: "lambdas",
    ast.IfExp: "conditional expressions (use where(c, a, b))", ast.BoolOp: "and/or (use * and max)",
    ast.ListComp: "comprehensions", ast.GeneratorExp: "comprehensions", ast.List: "lists",
    ast.Tuple: "tuples", ast.Dict: "dicts", ast.Set: "sets", ast.JoinedStr: "strings",
    ast.Starred: "starred arguments", ast.NamedExpr: "the := operator", ast.Await: "await",
}


def _is_negative_literal(node: ast.expr) -> bool:
    """Whether node is `-<number literal>`, which the language reads as one negative constant."""
    return isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub) \
        and isinstance(node.operand, ast.Constant)


class _Lowerer:
    """Lowers one function's statements into instructions, checking names as it goes."""

    def __init__(self, source: str, defined: set[str]):
        self.source = source
        self.defined = set(defined)
        self.body: list[Instr] = []
        self.temps = 0

    def fail(self, node: ast.AST, message: str) -> ProgramError:
        return ProgramError(f"{self.source}:{getattr(node, 'lineno', 1)}:"
                            f"{getattr(node, 'col_offset', 0) + 1}: {message}")

    def emit(self, dst: str | None, op: str, args: list[Arg]) -> str:
        if dst is None:
            self.temps += 1
            dst = f"_{self.temps}"
        self.body.append(Instr(dst, op, tuple(args)))
        return dst

    def constant(self, node: ast.Constant, negate: bool = False) -> float:
        value = node.value
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise self.fail(node, f"constant {value!r} is not a number; allowed: {_ALLOWED}")
        number = -float(value) if negate else float(value)
        if number != number or abs(number) == float("inf"):
            raise self.fail(node, f"constant {value!r} is not finite")
        return number

    def arg(self, node: ast.expr) -> Arg:
        """An argument: a constant, a variable, or a temporary holding a lowered expression."""
        while isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.UAdd):
            node = node.operand
        if isinstance(node, ast.Constant):
            return self.constant(node)
        if _is_negative_literal(node):
            return self.constant(node.operand, negate=True)
        if isinstance(node, ast.Name):
            if node.id not in self.defined:
                raise self.fail(node, f"name '{node.id}' is used before it is assigned; names assigned by then: "
                                      f"{', '.join(sorted(self.defined))}")
            return node.id
        return self.expression(node, None)

    def expression(self, node: ast.expr, dst: str | None) -> str:
        """Lower `node` (post-order) into instructions; the last one writes `dst` (or a temp)."""
        while isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.UAdd):
            node = node.operand
        if isinstance(node, ast.Constant) or isinstance(node, ast.Name) or _is_negative_literal(node):
            return self.emit(dst, "copy", [self.arg(node)])
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
            return self.emit(dst, "neg", [self.arg(node.operand)])
        if isinstance(node, (ast.BinOp, ast.UnaryOp)) and type(node.op) not in _BINOPS:
            raise self.fail(node, f"operator {type(node.op).__name__} is not allowed; allowed: "
                                  f"{_ALLOWED}")
        if isinstance(node, ast.BinOp):
            left, right = self.arg(node.left), self.arg(node.right)
            return self.emit(dst, _BINOPS[type(node.op)], [left, right])
        if isinstance(node, ast.Compare):
            if len(node.ops) != 1 or type(node.ops[0]) not in _CMPOPS:
                raise self.fail(node, "chained or non-numeric comparisons are not allowed; "
                                      "write one comparison such as a < b")
            left, right = self.arg(node.left), self.arg(node.comparators[0])
            return self.emit(dst, _CMPOPS[type(node.ops[0])], [left, right])
        if isinstance(node, ast.Call):
            return self.call(node, dst)
        what = _EXPRESSION_NAMES.get(type(node), f"'{type(node).__name__}' expressions")
        raise self.fail(node, f"{what} not allowed; allowed: {_ALLOWED}")

    def call(self, node: ast.Call, dst: str | None) -> str:
        if not isinstance(node.func, ast.Name):
            raise self.fail(node, f"only ops can be called, by name; allowed: {_ALLOWED}")
        name = node.func.id
        if name not in CALLABLE_OPS:
            raise self.fail(node, f"unknown op '{name}'; valid ops: {', '.join(CALLABLE_OPS)}")
        if node.keywords:
            raise self.fail(node, f"op '{name}' takes positional arguments only")
        arity = OPS[name].arity
        if len(node.args) != arity:
            raise self.fail(node, f"op '{name}' takes {arity} argument(s), got {len(node.args)}")
        return self.emit(dst, name, [self.arg(a) for a in node.args])

    def assign(self, node: ast.stmt) -> None:
        if isinstance(node, ast.AugAssign):
            targets, value = [node.target], ast.BinOp(node.target, node.op, node.value)
            ast.copy_location(value, node)
        else:
            targets, value = node.targets, node.value
        if len(targets) != 1 or not isinstance(targets[0], ast.Name):
            raise self.fail(node, "assign to one plain name per statement, as in m = interp(g, m, 0.9)")
        name = targets[0].id
        check_name(name, lambda msg: self.fail(targets[0], msg))
        self.expression(value, name)
        self.defined.add(name)


def check_name(name: str, fail) -> None:
    """Reject names the language reserves (temporaries `_*`, `count`, the shape inputs)."""
    if is_temp(name):
        raise fail(f"name '{name}' starts with '_', which is reserved for temporaries")
    if name in RESERVED_NAMES:
        raise fail(f"name '{name}' is reserved (reserved names: {', '.join(sorted(RESERVED_NAMES))})")


def _function(tree: ast.Module, source: str) -> ast.FunctionDef:
    """The module's one function definition, or an error saying what was found instead."""
    where = _Lowerer(source, set())
    functions = [n for n in tree.body if isinstance(n, ast.FunctionDef)]
    others = [n for n in tree.body if not isinstance(n, ast.FunctionDef)]
    if others:
        what = _STATEMENT_NAMES.get(type(others[0]), f"'{type(others[0]).__name__}' statements")
        raise where.fail(others[0], f"{what} are not allowed outside the function; a program "
                                    "file holds one def name(w, g, lr, t, ...)")
    if len(functions) != 1:
        node = functions[1] if functions else tree
        raise where.fail(node, f"expected exactly one function definition, found {len(functions)}")
    fn = functions[0]
    a = fn.args
    if fn.decorator_list or fn.returns or a.vararg or a.kwarg or a.kwonlyargs or a.posonlyargs \
            or a.defaults or any(arg.annotation for arg in a.args):
        raise where.fail(fn, "the def takes plain parameters only: def name(w, g, lr, t, "
                             "<memory slots>) with no defaults, annotations, decorators or *args")
    names = [arg.arg for arg in a.args]
    if tuple(names[:4]) != INPUTS:
        raise where.fail(fn, f"parameters must start with w, g, lr, t; got {', '.join(names) or 'none'}")
    for arg in a.args[4:]:
        check_name(arg.arg, lambda msg, arg=arg: where.fail(arg, msg))
    return fn


def _split_body(fn: ast.FunctionDef, lower: _Lowerer) -> tuple[str, list[ast.stmt], ast.Return]:
    """(docstring, assignments, return statement), or an error naming the bad statement."""
    statements = list(fn.body)
    doc = ""
    if statements and isinstance(statements[0], ast.Expr) \
            and isinstance(statements[0].value, ast.Constant) \
            and isinstance(statements[0].value.value, str):
        doc = statements.pop(0).value.value
    for node in statements:
        if not isinstance(node, (ast.Assign, ast.AugAssign, ast.Return)):
            what = _STATEMENT_NAMES.get(type(node), f"'{type(node).__name__}' statements")
            raise lower.fail(node, f"{what} are not allowed; a program body is assignments "
                                   "followed by one return")
    returns = [n for n in statements if isinstance(n, ast.Return)]
    if not returns or statements[-1] is not returns[0] or len(returns) > 1:
        node = returns[0] if returns else fn
        raise lower.fail(node, "the body must end with exactly one return statement, "
                               "return update, <new memory values>")
    return doc, statements[:-1], returns[0]


# CPython 3.11's ast.parse is not thread-safe (parsing in two threads at once can raise
# "SystemError: AST constructor recursion depth mismatch"), and worker threads parse programs.
_AST_LOCK = threading.Lock()


def parse_program(text: str | bytes, source: str = "<program>") -> Program:
    """Parse program text into its canonical IR, or raise ProgramError saying what is wrong where."""
    if isinstance(text, bytes):
        if b"\0" in text:
            raise ProgramError(f"{source}: not a text file (it contains NUL bytes)")
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as err:
            raise ProgramError(f"{source}: not a UTF-8 text file ({err.reason} at byte "
                               f"{err.start})") from None
    if "\0" in text:
        raise ProgramError(f"{source}: not a text file (it contains NUL characters)")
    if not text.strip():
        raise ProgramError(f"{source}: empty program; expected def name(w, g, lr, t, <memory "
                           "slots>): ... return update, <new memory values>")
    try:
        with _AST_LOCK:
            tree = ast.parse(text, filename=source)
    except SyntaxError as err:
        raise ProgramError(f"{source}:{err.lineno or 1}:{err.offset or 1}: syntax error: "
                           f"{err.msg}") from None
    fn = _function(tree, source)
    memory = tuple(arg.arg for arg in fn.args.args[4:])
    lower = _Lowerer(source, set(ALL_INPUTS) | set(memory))
    doc, assignments, ret = _split_body(fn, lower)
    for node in assignments:
        lower.assign(node)
    values = ret.value.elts if isinstance(ret.value, ast.Tuple) else \
        ([ret.value] if ret.value is not None else [])
    marked = [v for v in values if _is_eval_mark(v)]
    if marked and (values[-1] is not marked[0] or len(marked) > 1 or len(marked[0].args) != 1
                   or marked[0].keywords):
        raise lower.fail(marked[0], f"{EVAL_MARK}(x) takes one argument and comes last in the "
                                    "return, after the memory values")
    if len(values) - len(marked) != 1 + len(memory):
        slots = f" and the new values of {', '.join(memory)}" if memory else ""
        raise lower.fail(ret, f"return gives {len(values) - len(marked)} value(s) besides "
                              f"{EVAL_MARK}(...), expected {1 + len(memory)}: the update{slots}")
    outputs = tuple(lower.arg(v.args[0] if _is_eval_mark(v) else v) for v in values)
    return Program(fn.name, memory, tuple(lower.body), outputs, doc)


def _is_eval_mark(node: ast.expr) -> bool:
    """Whether `node` is a call `eval_at(...)`."""
    return isinstance(node, ast.Call) and isinstance(node.func, ast.Name) \
        and node.func.id == EVAL_MARK


@functools.lru_cache(maxsize=4096)   # a search normalizes each parent once per mutation tried
def normalize(program: Program) -> Program:
    """The canonical form of any IR: what parsing its printed text gives."""
    return parse_program(print_program(program))
