"""``casl-gui ... --screenshot OUT.png`` as a separate process: renders, saves, exits."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from gui_helpers import background_mask, colour_map_mask
from PIL import Image

pytestmark = [pytest.mark.gui, pytest.mark.timeout(180)]


def _run(args: list[str], tmp_path: Path) -> subprocess.CompletedProcess:
    script = Path(sys.executable).with_name("casl-gui")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "casl_gui.app"]
    env = dict(os.environ, XDG_CONFIG_HOME=str(tmp_path / "config"), QT_API="pyside6")
    return subprocess.run(command + args, capture_output=True, text=True, timeout=150, env=env)


def test_screenshot_of_a_file_coloured_by_a_chosen_field(tmp_path, scans_dir):
    out = tmp_path / "shot.png"
    bunny = scans_dir / "common-3d-test-models" / "stanford-bunny.obj"
    result = _run([str(bunny), "--color", "curvature_s64", "--compare", "--screenshot", str(out),
                   "--screenshot-target", "viewport"], tmp_path)
    assert result.returncode == 0, result.stderr
    image = np.asarray(Image.open(out).convert("RGB"))
    assert image.shape[0] > 300 and image.shape[1] > 400
    half = image.shape[1] // 2
    for side in (image[:, :half], image[:, half:]):
        cloud = colour_map_mask(side, "viridis") & ~background_mask(side)
        assert cloud.mean() > 0.02


def test_demo_screenshot_of_the_window(tmp_path):
    out = tmp_path / "demo.png"
    result = _run(["--demo", "--screenshot", str(out)], tmp_path)
    assert result.returncode == 0, result.stderr
    image = np.asarray(Image.open(out).convert("RGB"))
    assert image.shape[0] >= 600 and image.shape[1] >= 900
    assert (colour_map_mask(image, "viridis") & ~background_mask(image)).mean() > 0.01
    assert len(np.unique(image.reshape(-1, 3), axis=0)) > 200


def test_a_file_that_cannot_be_read_exits_non_zero_with_one_line(tmp_path):
    bad = tmp_path / "broken.pcd"
    bad.write_text("VERSION .7\nFIELDS x y z\nPOINTS 10\nDATA ascii\n1 2\n")
    result = _run([str(bad), "--screenshot", str(tmp_path / "never.png")], tmp_path)
    assert result.returncode == 1
    lines = [line for line in result.stderr.splitlines() if line.startswith("casl-gui:")]
    assert len(lines) == 1 and "broken.pcd" in lines[0]
    assert not (tmp_path / "never.png").exists()
