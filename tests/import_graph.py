"""The import graph of the retrodiction package, read from its source: which of its modules loading a module loads
(statements that never run, under `if TYPE_CHECKING:`, left out; imports inside functions kept, as they run when
called), and which other libraries those statements name. For tests that prove what a process imports."""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path

PACKAGE_ROOT = Path(__file__).resolve().parents[1] / "operator" / "retrodiction"


def module_file(module: str, root: Path = PACKAGE_ROOT) -> Path | None:
    """The source file of a retrodiction module (a package's __init__.py) under `root`, or None when none."""
    parts = module.split(".")
    if parts[0] != "retrodiction":
        return None
    base = root.joinpath(*parts[1:])
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _runtime_nodes(tree: ast.AST) -> Iterator[ast.AST]:
    """Every node that may run when the module is imported or its functions are called: `if TYPE_CHECKING:`
    bodies never run (their `else` does); imports inside functions do, when called."""
    stack: list[ast.AST] = [tree]
    while stack:
        node = stack.pop()
        yield node
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            stack.extend(node.orelse)
            continue
        stack.extend(ast.iter_child_nodes(node))


def imported_modules(source: str, module: str, *, is_package: bool, root: Path = PACKAGE_ROOT) -> set[str]:
    """The retrodiction modules that `module`'s import statements load: `import a.b`, `from a import b` (b a
    module of a, or a name in it), and relative imports resolved against `module`."""
    found: set[str] = set()
    for node in _runtime_nodes(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                package = module.split(".") if is_package else module.split(".")[:-1]
                package = package[: len(package) - (node.level - 1)]
                base = ".".join([*package, *([node.module] if node.module else [])])
            else:
                base = node.module or ""
            found.add(base)
            for alias in node.names:
                if module_file(f"{base}.{alias.name}", root) is not None:
                    found.add(f"{base}.{alias.name}")
    return {name for name in found if name == "retrodiction" or name.startswith("retrodiction.")}


def _with_parents(module: str) -> set[str]:
    """Importing a.b.c runs a/__init__.py and a/b/__init__.py first."""
    parts = module.split(".")
    return {".".join(parts[:i]) for i in range(1, len(parts) + 1)}


def dependencies(module: str, root: Path = PACKAGE_ROOT) -> set[str]:
    """What loading `module` loads next: what it imports, their parent packages, and its own parent packages."""
    path = module_file(module, root)
    if path is None:
        return set()
    direct = imported_modules(path.read_text(), module, is_package=path.name == "__init__.py", root=root)
    return {name for imported in direct | {module} for name in _with_parents(imported)} - {module}


def closure(starts: Iterable[str], root: Path = PACKAGE_ROOT) -> set[str]:
    """The retrodiction modules that loading `starts` may load, `starts` included."""
    found = set(starts)
    pending = list(found)
    while pending:
        for name in dependencies(pending.pop(), root) - found:
            found.add(name)
            pending.append(name)
    return found


def libraries(module: str, root: Path = PACKAGE_ROOT) -> set[str]:
    """The top-level names of the other libraries (not the standard library's) that `module`'s import statements
    name, those inside functions included."""
    path = module_file(module, root)
    if path is None:
        return set()
    names: set[str] = set()
    for node in _runtime_nodes(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {alias.name.partition(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
            names.add(node.module.partition(".")[0])
    return names - set(sys.stdlib_module_names) - {"__future__", "retrodiction"}
