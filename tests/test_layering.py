"""Run-time layering checks that the import contracts cannot see (DESIGN.md section 1).

The static import contracts (GUI above core, the core free of the GUI stack, the core's
layers, no cycles) are in ``pyproject.toml`` under ``[tool.importlinter]`` and run as
``lint-imports`` in ``make test``. These tests check what actually gets loaded at run time.
"""

from __future__ import annotations

import subprocess
import sys

FORBIDDEN = ("PySide6", "PyQt5", "PyQt6", "qtpy", "vtk", "vtkmodules", "pyvista", "pyvistaqt", "casl_gui")


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
