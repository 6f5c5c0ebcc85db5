"""A listing's functions as Python source for JAX or PyTorch (a `Dialect`): one line per
statement of the printed program, in its names.

Each op is written as the framework reads it where that is the language's semantics, and with a
small helper only where the op has its own (`div`: x / 0 = 0; `power`, `mod`, `log`, `log1p`;
`finite`, the clip at the float range; `row_mean`, `col_mean`, `orthogonalize`): a helper's
source is the runtime's own (`language.runtime` for JAX, `export.torch_ops` for torch), renamed.
A guard is left out where the value ranges (`ranges`) show it cannot act: sqrt(v) of a v >= 0 is
`jnp.sqrt(v)`, not `jnp.sqrt(jnp.abs(v))`, and m / (1 - 0.9 ** t) divides plainly.

Values computed from a tensor's shape facts (Python ints) and constants are written with
Python's operators where those are exact (+ - * /, comparisons, min, max, abs, and `math`
functions on ranges where they are defined): they are Python numbers when the code runs, so a
static `where` is `a if c else b` and a statement that runs on some paths only is under
`if c:`. A static condition that needs an array op (`sign(fan_in - 100) > 0`) makes the code
`needs_context`: JAX must run it under `jax.ensure_compile_time_eval()` (torch is eager).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np

from lion_search.export.listing import (
    Apply,
    Choice,
    Const,
    Full,
    Function,
    Key,
    Listing,
    Name,
    Node,
    Statement,
    Zeros,
)
from lion_search.export.ranges import RULES, TINY, Interval
from lion_search.export.source import (
    ADD,
    AND,
    ATOM,
    CMP,
    MUL,
    NOT,
    OR,
    POW,
    TERNARY,
    UNARY,
    Dialect,
    Text,
    branch_kind,
    combined_kind,
    docstring_lines,
    drop_unread,
    module_functions,
    rename_helpers,
)
from lion_search.language.plan import Kind, Mode, Shape
from lion_search.language.program import format_constant
BINARY = {"add": ("+", ADD), "sub": ("-", ADD), "mul": ("*", MUL), "div": ("/", MUL),
          "mod": ("%", MUL), "pow": ("**", POW), "lt": ("<", CMP), "le": ("<=", CMP),
          "gt": (">", CMP), "ge": (">=", CMP), "eq": ("==", CMP), "ne": ("!=", CMP)}
COMPARISONS = frozenset({"lt", "le", "gt", "ge", "eq", "ne"})
NEGATED = {"lt": "ge", "le": "gt", "gt": "le", "ge": "lt", "eq": "ne", "ne": "eq"}  # on numbers
COMPARE = {"lt": np.less, "le": np.less_equal, "gt": np.greater, "ge": np.greater_equal,
           "eq": np.equal, "ne": np.not_equal}
EXP_SAFE = 88.0  # exp, expm1 and cosh stay finite in float32 up to this
# Ops with a `math` twin for Python numbers, where the twin is defined on the argument's range.
MATH_TWINS = {"sqrt": ("sqrt", lambda r: r.lo >= 0), "tanh": ("tanh", lambda r: True),
              "arctan": ("atan", lambda r: True), "cos": ("cos", lambda r: True),
              "sin": ("sin", lambda r: True), "exp": ("exp", lambda r: r.hi <= EXP_SAFE)}
ONE, ZERO = Text("1.0", ATOM, True), Text("0.0", ATOM, True)
# The shape facts of tensor w, as Python ints.
FACTS = {"rank": "w.ndim", "fan_in": "w.shape[-2] if w.ndim >= 2 else 1",
         "fan_out": "w.shape[-1] if w.ndim else 1"}
@dataclass
class Writer:
    """Writes the functions of one listing in one dialect. `helpers` collects the helpers the
    code calls, `math` whether it calls the math module, `needs_context` whether a static
    condition is an array (see the module's docstring)."""

    listing: Listing
    dialect: Dialect
    helpers: set[str] = field(default_factory=set)
    math: bool = False
    needs_context: bool = False

    def __post_init__(self):
        code = self.listing.code
        self.kinds = {name: kind for name, kind, _ in code.ops}
        self.tensor = "w0" if any(dst == "w" for dst, _, _ in code.body) else "w"
        self.everything = frozenset(range(len(self.listing.paths)))
        readers: dict[int, list[tuple[int, int]]] = {}
        for j, defs in enumerate(self.listing.reaching):
            for i, k in enumerate(defs):
                if k is not None:
                    readers.setdefault(k, []).append((j, i))
        # Comparisons read only as a where's condition stay truth values.
        self.truth_values = {k for k, (_, op, _) in enumerate(code.body) if op in COMPARISONS
                             and all(j < len(code.body) and code.body[j][1] == "where"
                                     and i == 0 for j, i in readers.get(k, []))}

    # ---------------------------------------------------------------------- expressions

    def render(self, node: Node, paths: frozenset, python: dict, truth: bool = False) -> Text:
        """The code of an expression on `paths`; `python`: the names that hold Python numbers
        (True) or may (None); `truth`: it is read as a truth value (a comparison stays a
        boolean)."""
        if isinstance(node, Const):
            text = format_constant(node.value)
            return Text(text, UNARY if text.startswith("-") else ATOM, True)
        if isinstance(node, Name):
            return Text(node.text, ATOM, python.get(node.text, False))
        if isinstance(node, Zeros):
            self.helpers.update({Shape.ROW: {"row_mean"}, Shape.COL: {"col_mean"}}.get(
                node.shape, set()))
            return Text(self.dialect.zeros[node.shape].format(w=self.tensor), ATOM, False)
        if isinstance(node, Choice):  # a static where: its branch, where paths agree on it
            modes = {self.listing.paths[p].branches[node.index] for p in paths}
            if len(modes) == 1:
                return self.render(node.args[modes.pop()], paths, python, truth)
            a, b = (self.render(x, paths, python, truth) for x in node.args[1:])
            if a.text == b.text:
                return a
            c = self.condition(self.render(node.args[0], paths, python, truth=True))
            return Text(f"{a.at(OR)} if {c.at(OR)} else {b.at(TERNARY)}", TERNARY,
                        a.python if a.python == b.python else None)
        if isinstance(node, Full):
            return self.broadcast(node.index, node.arg, self.render(node.node, paths, python),
                                  paths)
        args = [self.render(x, paths, python, truth=node.op == "where" and i == 0)
                for i, x in enumerate(node.args)]
        if node.op == "where":
            args[0] = self.where_condition(node.args[0], args[0])
        return self.apply(node, args, paths, truth)

    def condition(self, c: Text) -> Text:
        """A static condition: an array one needs `jax.ensure_compile_time_eval()`."""
        self.needs_context |= c.python is not True
        return c

    def where_condition(self, node: Node, c: Text) -> Text:
        """A `where`'s condition as the framework's takes it: a boolean array for torch's (an
        array other than a comparison's compared with 0)."""
        if self.dialect.truthy:
            return c
        c = self.as_array(c)
        boolean = c.prec == CMP or isinstance(node, (Name, Apply)) and \
            node.index in self.truth_values
        return c if boolean else self.binary("ne", c, ZERO)

    def as_array(self, x: Text) -> Text:
        """x as an array, where it may be a Python number and the framework needs arrays."""
        if x.python is False or self.dialect.numbers:
            return x
        return Text(self.dialect.wrap.format(x=x.text, w=self.tensor), ATOM, False)

    def call(self, function: str, *args: Text) -> Text:
        return Text(f"{function}({', '.join(a.text for a in args)})", ATOM, False)

    def array_call(self, function: str, *args: Text) -> Text:
        """`np.function(args)`, a Python number made an array where the framework needs it."""
        return self.call(f"{self.dialect.np}.{function}", *(self.as_array(a) for a in args))

    def helper(self, op: str, *args: Text) -> Text:
        """A helper's call: its arguments arrays where the framework needs them (the dividend
        of div may stay a Python number)."""
        self.helpers.add(op)
        return self.call(self.dialect.name(op), *(
            a if i == 0 and op == "div" else self.as_array(a) for i, a in enumerate(args)))

    @staticmethod
    def binary(op: str, a: Text, b: Text) -> Text:
        symbol, prec = BINARY[op]
        if prec == POW:  # right-associative, and -x binds tighter on its right
            left, right = a.at(POW + 1), b.at(UNARY)
        else:
            left, right = a.at(prec), b.at(prec + 1)
        return Text(f"{left} {symbol} {right}", prec, combined_kind(a.python, b.python))

    def broadcast(self, index: int, arg: int, x: Text, paths: frozenset) -> Text:
        """x, argument `arg` of instruction `index`, at the tensor's full shape."""
        if self.listing.is_full(index, arg, paths):
            return x
        if x.python is True:
            return Text(self.dialect.fill.format(x=x.text, w=self.tensor), ATOM, False)
        return self.call(f"{self.dialect.np}.broadcast_to", self.as_array(x),
                         Text(f"{self.tensor}.shape", ATOM, True))

    def apply(self, node: Apply, args: list[Text], paths: frozenset, truth: bool) -> Text:
        op, ranges = node.op, self.listing.ranges[node.index]
        if op in ("add", "sub", "mul"):
            return self.binary(op, *args)
        if op in COMPARISONS:
            test = self.comparison(node, op, args)
            if truth:
                return test
            if test.python is True:
                return Text(f"float({test.text})", ATOM, True)
            return self.call(f"{self.dialect.np}.where", self.as_array(test), ONE, ZERO)
        if op in ("div", "mod") and ranges[1].excludes_zero():  # % is the mod of arrays too
            return self.binary(op, *args)
        if op == "pow" and self.plain_power(node, ranges):
            return self.binary(op, *args)
        if op in ("div", "mod", "pow"):
            return self.helper(op, *args)
        if op == "neg":
            return Text(f"-{args[0].at(UNARY)}", UNARY, args[0].python)
        if op == "copy":
            return args[0]
        if op == "abs":
            return self.absolute(args[0])
        if op in ("max", "min"):
            return self.extremum(op, *args)
        if op == "interp":
            return self.interp(node, args)
        if op == "clip":
            bound = args[1] if ranges[1].lo >= 0 else self.absolute(args[1])
            return self.array_call(self.dialect.clip, args[0],
                                   Text(f"-{bound.at(UNARY)}", UNARY, bound.python), bound)
        if op == "where":
            return self.call(f"{self.dialect.np}.where", *args)
        if self.kinds[op] in (Kind.TENSOR_REDUCE, Kind.AXIS_REDUCE, Kind.MATRIX):
            constant = self.kinds[op] == Kind.AXIS_REDUCE and all(  # the mean of a value
                s is not None and s <= Shape.PER_TENSOR  # constant along the axis is itself
                for s in self.listing.arg_shapes(node.index, 0, paths))
            x = args[0] if constant else self.broadcast(node.index, 0, args[0], paths)
            if op == "mean":
                return self.array_call("mean", x)
            if op in ("rms", "norm"):
                total = "mean" if op == "rms" else "sum"
                return self.array_call("sqrt", self.array_call(total, self.array_call("square",
                                                                                      x)))
            return self.helper(op, x)
        return self.unary(op, args[0], ranges[0])

    @staticmethod
    def plain_power(node: Apply, ranges: tuple) -> bool:
        """Whether a ** b is the language's pow: |a| ** b with a's sign kept for an odd integer
        b, 0 for 0 ** (b < 0), clipped at the float range. So where a > 0, a >= 0 and b > 0, or
        b is an even integer constant, and |a ** b| stays below the float range."""
        a, b = ranges
        even = isinstance(node.args[1], Const) and node.args[1].value % 2 == 0
        if not (a.lo > 0 or (a.lo >= 0 and b.lo > 0) or even):
            return False
        return RULES["pow"](a.magnitude(), b).hi < 1e38 if a.lo > 0 or even else \
            RULES["pow"](Interval(max(a.lo, 1e-45), a.hi), b).hi < 1e38

    def comparison(self, node: Apply, op: str, args: list[Text]) -> Text:
        """a < b (and the others): folded where both are constants, and as the framework's
        function where both sides read alike (x == x is False for NaN alone)."""
        if all(isinstance(a, Const) for a in node.args):
            truth = bool(COMPARE[op](*(np.float32(a.value) for a in node.args)))
            return Text(str(truth), ATOM, True)
        if args[0].text == args[1].text and args[0].python is not True:
            return self.array_call(self.dialect.compare[op], *args)
        if args[0].text == args[1].text:
            return Text(str(op in ("le", "ge", "eq")), ATOM, True)
        return self.binary(op, *args)

    def absolute(self, x: Text) -> Text:
        return Text(f"abs({x.text})", ATOM, True) if x.python is True else \
            self.array_call("abs", x)

    def extremum(self, op: str, a: Text, b: Text) -> Text:
        d = self.dialect
        if a.python is True and b.python is True:
            return Text(f"{op}({a.text}, {b.text})", ATOM, True)
        if not d.numbers and {a.python, b.python} == {True, False}:  # torch.maximum: arrays
            tensor, number = (b, a) if a.python else (a, b)
            return Text(f"{d.np}.clamp({tensor.text}, {'min' if op == 'max' else 'max'}="
                        f"{number.text})", ATOM, False)
        return self.array_call(d.maximum if op == "max" else d.minimum, a, b)

    def interp(self, node: Apply, args: list[Text]) -> Text:
        """(1 - a) * x + a * y, 1 - a folded where a is a constant (written as the float32
        value the runtime's Python float becomes)."""
        x, y, a = args
        if isinstance(node.args[2], Const):
            rest = float(str(np.float32(1.0 - node.args[2].value)))
            weight = Text(format_constant(rest), ATOM, True)
        else:
            weight = Text(f"(1 - {a.at(ADD + 1)})", ATOM, a.python)
        return self.binary("add", self.binary("mul", weight, x), self.binary("mul", a, y))

    def unary(self, op: str, x: Text, r: Interval) -> Text:
        """sign, sqrt, rsqrt, square, exp, expm1, log, log1p, tanh, arcsin, arctan, cosh, cos,
        sin of x, whose values lie in r."""
        if x.python is True and op in MATH_TWINS and MATH_TWINS[op][1](r):
            self.math = True
            return Text(f"math.{MATH_TWINS[op][0]}({x.text})", ATOM, True)
        magnitude = x if r.lo >= 0 else self.array_call("abs", x)
        if op == "sqrt":
            return self.array_call("sqrt", magnitude)
        if op == "rsqrt":  # 1 / sqrt|x|, and 0 at 0
            one, root = Text("1", ATOM, True), self.array_call("sqrt", magnitude)
            return self.binary("div", one, root) if r.lo > 0 or r.hi < 0 else \
                self.helper("div", one, root)
        if op in ("exp", "expm1", "cosh"):
            value = self.array_call(op, x)
            top = max(-r.lo, r.hi) if op == "cosh" else r.hi
            return value if top <= EXP_SAFE else self.helper("finite", value)
        if op == "log":
            return self.array_call("log", x) if r.lo >= TINY else self.helper("log", x)
        if op == "log1p":
            return self.array_call("log1p", x) if r.lo > -1 else self.helper("log1p", x)
        if op == "arcsin" and not (-1 <= r.lo and r.hi <= 1):
            x = self.array_call(self.dialect.clip, x, Text("-1", UNARY, True),
                                Text("1", ATOM, True))
        return self.array_call(op, x)

    # ---------------------------------------------------------------------- conditions

    def static_tree(self, k: int) -> Node:
        """Instruction k's static value as an expression of shape facts and constants."""
        code, reaching = self.listing.code, self.listing.reaching
        _, op, args = code.body[k]
        children = tuple(Const(a) if isinstance(a, float) else
                         self.static_tree(reaching[k][i]) if reaching[k][i] is not None else
                         Name(a) for i, a in enumerate(args))
        modes = {p.branches[k] for p in self.listing.paths}
        if all(k in p.constant for p in self.listing.paths) and len(modes) == 1:
            return children[modes.pop()]
        if op == "where" and modes != {Mode.RUN}:
            return Choice(k, children)
        return Apply(k, op, children)

    def literal(self, key: Key, truth: bool, scope: Scope, paths: frozenset) -> Text:
        """A static condition's truth, read on `paths`: its name where an unconditional
        statement holds it, else its expression of shape facts and constants there."""
        if isinstance(key, str):
            text = Text(key, ATOM, True)
        else:
            name = self.listing.names.get(self.listing.code.body[key][0])
            tree = self.static_tree(key)
            if scope.holds(name, key):
                text = Text(name, ATOM, scope.python.get(name, False))
            elif not truth and isinstance(tree, Apply) and tree.op in COMPARISONS:
                return self.condition(self.render(Apply(key, NEGATED[tree.op], tree.args),
                                                  paths, scope.python, truth=True))
            else:
                text = self.render(tree, paths, scope.python, truth=True)
        text = self.condition(text)
        return text if truth else Text(f"not {text.at(NOT + 1)}", NOT, text.python)

    def guard(self, paths: frozenset, scope: Scope) -> Text:
        """A condition that holds on exactly `paths` among all paths: the paths' literals in
        program order, terms that differ in their last literal alone merged (so `if c:` for
        the paths where c holds); a literal is read only on the paths where those before it
        hold, where it is static."""
        everything = self.listing.paths
        terms = {everything[i].literals for i in paths}
        merged = True
        while merged:
            merged = False
            for term in sorted(terms, key=len, reverse=True):
                if term and term[:-1] + ((term[-1][0], not term[-1][1]),) in terms:
                    terms -= {term, term[:-1] + ((term[-1][0], not term[-1][1]),)}
                    terms.add(term[:-1])
                    merged = True
                    break
        texts = []
        for term in sorted(terms):
            parts = []
            for i, (key, truth) in enumerate(term):
                where = frozenset(p for p, path in enumerate(everything)
                                  if set(term[:i]) <= set(path.literals))
                parts.append(self.literal(key, truth, scope, where))
            texts.append(" and ".join(p.at(AND + 1) for p in parts) if len(parts) > 1 or
                         len(terms) == 1 else parts[0].at(AND + 1))
        if len(texts) == 1:
            return Text(texts[0], AND if " and " in texts[0] else NOT if
                        texts[0].startswith("not ") else ATOM, False)
        return Text(" or ".join(f"({t})" if " and " in t else t for t in texts), OR, False)

    # ---------------------------------------------------------------------- statements

    def function(self, function: Function, signature: str, docstring: str) -> list[str]:
        """The lines of one function of the listing: `def`, its docstring, the shape facts it
        reads, its statements in runs under their guards."""
        scope = Scope(dict.fromkeys(FACTS, True), {})
        body: list[str] = []
        for run in self.runs(function.statements):
            body += self.run(run, scope)
        used = "\n".join(body)
        head = [f"{fact} = {text}" for fact, text in FACTS.items()
                if re.search(rf"\b{fact}\b", used)]
        if self.tensor == "w0" and re.search(r"\bw0\b", used):
            head.append("w0 = w")
        lines = [f"def {function.name}({signature}):"] + docstring_lines(docstring, "    ")
        return lines + ["    " + line for line in drop_unread(head + body)]

    def runs(self, statements: list[Statement]) -> list[list[Statement]]:
        """The statements in runs: an unconditional one alone, consecutive conditional ones
        together while their path sets are pairwise equal or disjoint (so that one chain of
        `if`s holds them all, each in program order)."""
        out: list[list[Statement]] = []
        for s in statements:
            if self.conditional(s) and out and self.conditional(out[-1][0]):
                sets = {ps for t in out[-1] + [s] for ps, _ in t.variants}
                if all(a == b or not a & b for a in sets for b in sets):
                    out[-1].append(s)
                    continue
            out.append([s])
        return out

    def conditional(self, statement: Statement) -> bool:
        return [ps for ps, _ in statement.variants] != [self.everything]

    def run(self, run: list[Statement], scope: Scope) -> list[str]:
        """The lines of a run: one statement, or a chain of ifs over its path sets."""
        if not self.conditional(run[0]):
            return [line for line in [self.line(run[0], self.everything, scope)] if line]
        chain: list[frozenset] = []
        for s in run:
            chain += [ps for ps, _ in s.variants if ps not in chain]
        guards = [self.guard(ps, scope) for ps in chain]
        complete = frozenset().union(*chain) == self.everything
        if len(chain) == 2 and complete and guards[0].prec == NOT:
            chain.reverse()
            guards.reverse()
        returns = run[-1].target is None  # every branch returns: no else after them
        lines, branches = [], []
        for i, (ps, guard) in enumerate(zip(chain, guards)):
            last = complete and i == len(chain) - 1
            if not (last and returns):
                lines.append("else:" if last else f"{'elif' if i else 'if'} {guard.text}:")
            pad = "" if last and returns else "    "
            branch = scope.branch()
            body = [self.line(s, ps, branch) for s in run for vs, _ in s.variants if vs == ps]
            lines += [pad + line for line in [line for line in body if line] or ["pass"]]
            branches.append(branch)
        scope.join(branches, complete)
        return lines

    def line(self, statement: Statement, paths: frozenset, scope: Scope) -> str:
        expression = next(e for ps, e in statement.variants if ps == paths)
        if statement.target is None:  # a tuple, of one value too
            values = [self.render(e, paths, scope.python).text for e in expression]
            return "return " + ", ".join(values) + ("," if len(values) == 1 else "")
        value = self.render(expression, paths, scope.python, truth=isinstance(
            expression, Apply) and expression.index in self.truth_values)
        if value.text == statement.target:  # x = x: nothing to write
            return ""
        scope.assign(statement.target, statement.position, value.python,
                     unconditional=paths == self.everything)
        return f"{statement.target} = {value.text}"

    # ---------------------------------------------------------------------- helpers

    def helper_source(self) -> list[str]:
        """The source of the helpers the code calls (and of those they call), from the ops
        module's `op_*` functions renamed, in that module's order."""
        available = module_functions(self.dialect.ops)
        needed, todo = set(), [f"op_{h}" if f"op_{h}" in available else h for h in self.helpers]
        while todo:
            name = todo.pop()
            if name not in needed:
                needed.add(name)
                todo += [n for n in available[name][1] if n in available]
        order = list(available)
        return [rename_helpers(available[n][0]) for n in sorted(needed, key=order.index)]


@dataclass
class Scope:
    """While a function is written: the names that hold Python numbers, and for each name the
    instructions whose values it was given, in order (None: given on some paths only)."""

    python: dict[str, bool | None]
    given: dict[str, list]

    def assign(self, name: str, index: int, python: bool | None, unconditional: bool) -> None:
        self.python[name] = python
        self.given.setdefault(name, []).append(index if unconditional else None)

    def holds(self, name: str | None, index: int) -> bool:
        """Whether `name` holds instruction `index`'s value on every path, here."""
        return name is not None and bool(self.given.get(name)) and self.given[name][-1] == index

    def branch(self) -> Scope:
        return Scope(dict(self.python), {k: list(v) for k, v in self.given.items()})

    def join(self, branches: list[Scope], complete: bool) -> None:
        """After a chain of ifs: a name holds a Python number where it does in every branch
        (and before the chain, where no branch may run); a name given in a branch is given
        conditionally."""
        scopes = branches + ([] if complete else [self])
        names = set().union(*(s.python for s in scopes))
        self.python = {n: f for n in names if (f := branch_kind([s.python.get(n, False)
                                                           for s in scopes])) is not False}
        for b in branches:
            for name, values in b.given.items():
                if len(values) > len(self.given.get(name, [])):
                    self.given.setdefault(name, []).append(None)


