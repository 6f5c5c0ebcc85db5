"""Names that explain themselves (issue 21): no two public functions of the package share a name,
no module imports another's private name, and no module is over 500 lines.
export/torch_ops.py is exempt from the first: it is the torch template whose functions exported
PyTorch modules copy, so they mirror language/runtime's op by op by design."""
import ast
from collections import defaultdict
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "lion_search"
TEMPLATES = {PACKAGE / "export" / "torch_ops.py"}
MOST_LINES = 500


def modules():
    return [(path, ast.parse(path.read_text())) for path in sorted(PACKAGE.rglob("*.py"))]


def test_no_two_public_functions_share_a_name():
    defined = defaultdict(list)
    for path, tree in modules():
        if path in TEMPLATES:
            continue
        for node in tree.body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) \
                    and not node.name.startswith("_"):
                defined[node.name].append(str(path.relative_to(PACKAGE)))
    assert {name: paths for name, paths in defined.items() if len(paths) > 1} == {}


def test_no_private_name_is_imported_from_another_module():
    imported = [f"{path.relative_to(PACKAGE)}:{node.lineno}: {alias.name} from {node.module}"
                for path, tree in modules() for node in ast.walk(tree)
                if isinstance(node, ast.ImportFrom)
                and (node.module or "").startswith("lion_search")
                for alias in node.names if alias.name.startswith("_")]
    assert imported == []


def test_no_module_is_over_500_lines():
    long = {str(path.relative_to(PACKAGE)): n for path in PACKAGE.rglob("*.py")
            if (n := len(path.read_text().splitlines())) > MOST_LINES}
    assert long == {}
