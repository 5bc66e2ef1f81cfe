"""The shape of ``service/``: a package per concern, arrows pointing down, no loops.

Every import in the package (at module level, in functions, under
``TYPE_CHECKING``) is read from the source, so a lazy import counts as much as
any other. docs/reference/code-layout.md draws the same picture.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from functools import cache
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "service"

#: Who may import whom: a module imports only from its own floor's package or a
#: lower floor. The root package holds nothing but ``__version__``.
FLOORS: dict[str, int] = {
    "service": 0,
    "service.errors": 0,
    "service.support": 0,
    "service.config": 1,
    "service.observability": 2,
    "service.signing": 3,
    "service.state": 3,
    "service.store": 3,
    "service.customers": 4,
    "service.oauth": 4,
    "service.admin": 5,
    "service.dev": 5,
    "service.wiring": 6,
    "service.web": 7,
    "service.cli": 8,
    "service.asgi": 8,
    "service.__main__": 9,
}


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


@cache
def modules() -> dict[str, Path]:
    return {module_name(path): path for path in PACKAGE.rglob("*.py")}


def imports(name: str) -> Iterator[str]:
    """The service modules that module ``name`` imports (a submodule counts as itself)."""
    for node in ast.walk(ast.parse(modules()[name].read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, f"{name}: the service imports by absolute names only"
            base = node.module or ""
            targets = [
                f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules() else base
                for alias in node.names
            ]
        else:
            continue
        yield from (target for target in targets if target in modules())


def floor_of(name: str) -> tuple[str, int]:
    """The package (or top-level module) that gives ``name`` its floor, and the floor."""
    for length in range(name.count(".") + 1, 0, -1):
        prefix = ".".join(name.split(".")[:length])
        if prefix in FLOORS:
            return prefix, FLOORS[prefix]
    raise AssertionError(f"{name} is on no floor: add its package to FLOORS")


def test_every_module_is_on_a_floor() -> None:
    for name in modules():
        floor_of(name)


def test_arrows_point_down_or_stay_in_their_package() -> None:
    wrong = []
    for name in modules():
        home, floor = floor_of(name)
        for target in imports(name):
            there, target_floor = floor_of(target)
            if there != home and target_floor >= floor and there != "service":
                wrong.append(f"{name} -> {target}")
    assert wrong == []


def test_no_module_imports_a_package_above_it() -> None:
    # A package's __init__ may re-export its modules; a module never reaches back
    # up into its own package's __init__ (the root, which holds only
    # __version__, excepted).
    wrong = []
    for name in modules():
        for target in imports(name):
            if target != "service" and name.startswith(f"{target}."):
                wrong.append(f"{name} -> {target}")
    assert wrong == []


def test_the_root_package_is_a_leaf() -> None:
    assert list(imports("service")) == []


def test_there_is_no_import_loop() -> None:
    graph = {name: set(imports(name)) for name in modules()}
    # Tarjan's strongly connected components: any component of two or more is a loop.
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    loops: list[set[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for other in graph[node]:
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in on_stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            component = set()
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.add(member)
                if member == node:
                    break
            if len(component) > 1 or node in graph[node]:
                loops.append(component)

    for node in graph:
        if node not in index:
            visit(node)
    assert loops == []


def test_a_handful_of_top_level_modules() -> None:
    top = sorted(path.name for path in PACKAGE.glob("*.py"))
    assert len(top) <= 6, top


#: Alembic's folders: migration scripts it loads by path, not packages of the service.
MIGRATIONS = PACKAGE / "store" / "migrations"
PACKAGES = sorted(
    path.parent.relative_to(PACKAGE.parent).as_posix()
    for path in PACKAGE.rglob("__init__.py")
    if not path.is_relative_to(MIGRATIONS)
)


@pytest.mark.parametrize("package", PACKAGES)
def test_each_package_opens_with_a_one_line_docstring_of_its_job(package: str) -> None:
    docstring = ast.get_docstring(ast.parse((PACKAGE.parent / package / "__init__.py").read_text()))
    assert docstring is not None and "\n" not in docstring.strip(), package


def test_no_test_module_imports_another() -> None:
    # Shared helpers live in the modules at the top of tests/ (docs: development).
    tests = Path(__file__).resolve().parent
    wrong = []
    for path in tests.rglob("test_*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module:
                if node.module.rpartition(".")[2].startswith("test_"):
                    wrong.append(f"{path.relative_to(tests)} imports {node.module}")
    assert wrong == []
