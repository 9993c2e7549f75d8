"""Imports point downward: below the stages (backends, export, llm, media, prosody, ...)
nothing imports a stage module, so a stage can use any of them without a cycle, and loading
one stage loads only what it needs. Checked on the source, imports inside functions and
``TYPE_CHECKING`` blocks included."""

from __future__ import annotations

import ast
from pathlib import Path

import merr_factory

PACKAGE = Path(merr_factory.__file__).parent
# The top layer: the registry and what is built on it may import every stage.
TOP = {
    "registry", "cli", "config", "workspace", "pipeline", "planning", "status",
}  # fmt: skip
ALLOWED_STAGE_MODULES = {"merr_factory.stages", "merr_factory.stages.base"}


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


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


def stage_imports(source: str, package: str) -> set[str]:
    return {
        name
        for name in imported_modules(source, package)
        if name.startswith("merr_factory.stages")
        and name.count(".") <= 2
        and name not in ALLOWED_STAGE_MODULES
        and not name.startswith("merr_factory.stages.base.")
    }


def package_of(path: Path) -> str:
    name = module_name(path)
    return name if path.name == "__init__.py" else name.rsplit(".", 1)[0]


def lower_modules() -> list[Path]:
    return [
        path
        for path in sorted(PACKAGE.rglob("*.py"))
        if path.relative_to(PACKAGE).parts[0] != "stages"
        and path.relative_to(PACKAGE).with_suffix("").parts[0] not in TOP
    ]


def test_nothing_below_the_stages_imports_a_stage_module() -> None:
    offenders = {
        module_name(path): sorted(found)
        for path in lower_modules()
        if (found := stage_imports(path.read_text(), package_of(path)))
    }
    assert offenders == {}


def test_the_check_sees_relative_imports_in_functions() -> None:
    """The checker itself: a stage imported inside a function, relatively, is found; the
    stage contract (``stages.base``) is not an offence."""
    source = "from ..stages.base import Stage\ndef f():\n    from ..stages.audio import AudioData\n"
    assert stage_imports(source, "merr_factory.export") == {"merr_factory.stages.audio"}
    assert stage_imports("from ..stages import audio\n", "merr_factory.llm") == {
        "merr_factory.stages.audio"
    }
