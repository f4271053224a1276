"""casl_core must never depend on the GUI stack (DESIGN.md section 1)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

CORE = Path(__file__).resolve().parents[1] / "casl_core"
FORBIDDEN = ("PySide6", "PyQt5", "PyQt6", "qtpy", "vtk", "vtkmodules", "pyvista", "pyvistaqt", "casl_gui")


def _imported_modules(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module))
    return found


def test_core_sources_import_no_gui_module():
    offending = []
    files = sorted(CORE.rglob("*.py"))
    assert len(files) > 10, "the core package looks empty"
    for path in files:
        for lineno, name in _imported_modules(path):
            if name.split(".")[0] in FORBIDDEN:
                offending.append(f"{path.relative_to(CORE.parent)}:{lineno} imports {name}")
    assert offending == []


def test_running_the_cli_loads_no_gui_module():
    code = (
        "import sys, casl_core.cli, casl_core.io, casl_core.geometry, casl_core.evaluate, casl_core.datasets;"
        f"bad = [m for m in sys.modules if m.split('.')[0] in {FORBIDDEN!r}];"
        "print(','.join(bad)); sys.exit(1 if bad else 0)"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, f"GUI modules loaded by the core: {proc.stdout} {proc.stderr}"


def test_cli_start_up_does_not_import_torch():
    # `casl info` and `casl --help` must start fast; torch is imported only by the verbs that need it
    code = "import sys, casl_core.cli as c; c.build_parser(); sys.exit(1 if 'torch' in sys.modules else 0)"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, "building the casl parser imported torch"
