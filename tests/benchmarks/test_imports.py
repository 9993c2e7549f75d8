"""The benchmark stays beside the package: its parts import the project absolutely and one
another without a circle (imports inside functions included), ``common.py`` imports no part,
and nothing in the installed package names the benchmark or reaches up into the repository.
Checked on the source, as ``tests/test_layers.py`` checks the package's layers."""

from __future__ import annotations

import ast
from pathlib import Path

import merr_factory

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"
PACKAGE = Path(merr_factory.__file__).parent
# the benchmark's names, and how a module would find the repository's folders
NAMES_OF_THE_REPOSITORY = ("benchmark", "bench_", "bench.py", "merr-build bench", "parents[")


def parts() -> dict[str, ast.Module]:
    return {path.stem: ast.parse(path.read_text()) for path in sorted(BENCHMARKS.glob("*.py"))}


def imported_parts(tree: ast.Module) -> set[str]:
    """The benchmark modules ``tree`` imports, anywhere in it."""
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module, *(f"{node.module}.{alias.name}" for alias in node.names)]
        else:
            continue
        found.update(name.split(".")[1] for name in names if name.startswith("benchmarks."))
    return found & set(parts())


def test_every_import_is_absolute() -> None:
    relative = [
        name
        for name, tree in parts().items()
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.level
    ]
    assert relative == []


def test_the_parts_import_one_another_without_a_circle() -> None:
    graph = {name: imported_parts(tree) - {name} for name, tree in parts().items()}
    assert graph["common"] == set()
    done: set[str] = set()

    def visit(name: str, path: tuple[str, ...]) -> None:
        assert name not in path, " -> ".join((*path, name))
        if name not in done:
            for imported in graph[name]:
                visit(imported, (*path, name))
            done.add(name)

    for name in graph:
        visit(name, ())


def test_the_package_knows_nothing_of_the_benchmark_or_the_repository() -> None:
    offenders = [
        str(path.relative_to(PACKAGE))
        for path in sorted(PACKAGE.rglob("*"))
        if path.is_file()
        and path.suffix in (".py", ".html", ".txt", ".yaml", ".json")
        and any(word in path.read_text().lower() for word in NAMES_OF_THE_REPOSITORY)
    ]
    assert offenders == []
