"""Imports point down the layer table of docs/modules.md, never up.

Every module of the package is placed in one layer by the table (the longest matching entry:
``run/store.py`` before ``run/``); a module the table does not place fails the test, so the
table cannot fall behind the code. An import of a module in a higher layer fails it too,
checked on the source: imports inside functions and ``TYPE_CHECKING`` blocks included.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

import merr_factory

PACKAGE = Path(merr_factory.__file__).parent
MODULE_MAP = Path(__file__).parents[1] / "docs" / "modules.md"
ENTRY = re.compile(r"`([\w/]+(?:\.py|/))`")


def layer_table(markdown: str) -> dict[str, int]:
    """The table's entries (``run/store.py``, ``backends/``) and their layer numbers."""
    table: dict[str, int] = {}
    for line in markdown.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) < 2 or not (number := re.match(r"(\d+)\.", cells[0])):
            continue
        for entry in ENTRY.findall(cells[1]):
            table[entry] = int(number.group(1))
    return table


def layer_of(module: str, table: dict[str, int]) -> int | None:
    """``module`` as a path under the package (``run/store.py``, ``backends/asr/base.py``)."""
    matches = [entry for entry in table if module == entry or (
        entry.endswith("/") and module.startswith(entry))]  # fmt: skip
    return table[max(matches, key=len)] if matches else None


def module_file(dotted: str) -> str | None:
    """The package path of a dotted module name, if it is one of ours."""
    parts = dotted.split(".")
    if parts[0] != "merr_factory":
        return None
    for end in range(len(parts), 1, -1):  # `from a.b import c`: c may be a name, not a module
        path = PACKAGE.joinpath(*parts[1:end])
        if path.with_suffix(".py").is_file():
            return "/".join(parts[1:end]) + ".py"
        if (path / "__init__.py").is_file():
            return "/".join(parts[1:end]) + "/__init__.py"
    return None


def imported_modules(source: str, package: str) -> set[str]:
    """Absolute names of the modules ``source`` (a module of ``package``) imports;
    ``from a import b`` gives both a and a.b (b may be a module)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return found


def upward_imports(module: str, source: str, table: dict[str, int]) -> list[str]:
    """``module``'s imports of modules in a higher layer, as 'target (layer N)'."""
    own = layer_of(module, table)
    if own is None:  # test_the_table_places_every_module names it
        return []
    package = (
        "merr_factory." + module.rsplit("/", 1)[0].replace("/", ".")
        if "/" in module
        else "merr_factory"
    )
    offences = set()
    for name in imported_modules(source, package):
        target = module_file(name)
        if target is None:
            continue
        layer = layer_of(target, table)
        if layer is not None and layer > own:
            offences.add(f"{target} (layer {layer})")
    return sorted(offences)


def package_modules() -> list[str]:
    return [path.relative_to(PACKAGE).as_posix() for path in sorted(PACKAGE.rglob("*.py"))]


@pytest.fixture(scope="module")
def table() -> dict[str, int]:
    return layer_table(MODULE_MAP.read_text("utf-8"))


def test_the_table_places_every_module(table: dict[str, int]) -> None:
    assert [module for module in package_modules() if layer_of(module, table) is None] == []


def test_no_module_imports_a_higher_layer(table: dict[str, int]) -> None:
    offenders = {
        module: found
        for module in package_modules()
        if (found := upward_imports(module, (PACKAGE / module).read_text("utf-8"), table))
    }
    assert offenders == {}


def test_the_check_finds_an_injected_upward_import(table: dict[str, int]) -> None:
    """The checker itself: the export reaching up to the runner (inside a function, relative)
    and the store reaching up to a stage are found; an import downward is not."""
    export_source = "def refresh():\n    from ..run.pipeline import Runner\n"
    assert upward_imports("export/writer.py", export_source, table) == [
        f"run/pipeline.py (layer {table['run/pipeline.py']})"
    ]
    store_source = (
        "from merr_factory.stages.faces import FacesStage\nfrom merr_factory import faults\n"
    )
    assert upward_imports("run/store.py", store_source, table) == [
        f"stages/faces.py (layer {table['stages/']})"
    ]
    assert upward_imports("stages/faces.py", "from merr_factory.run import store\n", table) == []


def test_export_and_quality_do_not_import_each_other(table: dict[str, int]) -> None:
    """Both read the dataset's entries; the export writes the quality report, so quality sits
    below it."""
    assert table["dataset/"] < table["quality/"] < table["export/"]


def test_no_stage_imports_another_stage() -> None:
    """A stage reads another stage's output through its output model and files through
    ``stage_data``, never through that stage's module (only the contract, ``stages.base``)."""
    offenders = {}
    for path in sorted((PACKAGE / "stages").glob("*.py")):
        own = f"merr_factory.stages.{path.stem}"
        found = {
            name
            for name in imported_modules(path.read_text("utf-8"), "merr_factory.stages")
            if (target := module_file(name))
            and target.startswith("stages/")
            and target not in {"stages/base.py", "stages/__init__.py"}
            and not name.startswith(own)
        }
        if found:
            offenders[path.name] = sorted(found)
    assert offenders == {}
