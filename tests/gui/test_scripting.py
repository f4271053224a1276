"""``casl-gui ... --screenshot OUT.png``: renders, saves, exits with a status.

One test runs the installed command as a separate process; the others call the same
``main()`` in this process (faster), with the settings redirected to a temporary folder.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from gui_helpers import background_mask, colour_map_mask
from PIL import Image

from casl_gui.app import main

pytestmark = [pytest.mark.gui, pytest.mark.timeout(180)]


def _cloud_fraction(image: np.ndarray) -> float:
    return float((colour_map_mask(image, "viridis") & ~background_mask(image)).mean())


def test_the_command_saves_a_screenshot_of_the_demo(tmp_path):
    out = tmp_path / "demo.png"
    script = Path(sys.executable).with_name("casl-gui")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "casl_gui.app"]
    env = dict(os.environ, XDG_CONFIG_HOME=str(tmp_path / "config"), QT_API="pyside6")
    result = subprocess.run(
        command + ["--demo", "--screenshot", str(out)], capture_output=True, text=True, timeout=150, env=env
    )
    assert result.returncode == 0, result.stderr
    image = np.asarray(Image.open(out).convert("RGB"))
    assert image.shape[0] >= 600 and image.shape[1] >= 900
    assert _cloud_fraction(image) > 0.01
    assert len(np.unique(image.reshape(-1, 3), axis=0)) > 200


def test_screenshot_of_a_file_in_compare_mode_with_a_chosen_field(qapp, settings, tmp_path, scans_dir):
    out = tmp_path / "shot.png"
    bunny = scans_dir / "common-3d-test-models" / "stanford-bunny.obj"
    status = main(
        [
            str(bunny),
            "--color",
            "curvature_s64",
            "--compare",
            "--screenshot",
            str(out),
            "--screenshot-target",
            "viewport",
        ]
    )
    assert status == 0
    image = np.asarray(Image.open(out).convert("RGB"))
    half = image.shape[1] // 2
    assert _cloud_fraction(image[:, :half]) > 0.02 and _cloud_fraction(image[:, half:]) > 0.02


def test_the_first_launch_shows_the_demo(qapp, settings, tmp_path):
    out = tmp_path / "first.png"
    assert main(["--screenshot", str(out), "--screenshot-target", "viewport"]) == 0
    assert _cloud_fraction(np.asarray(Image.open(out).convert("RGB"))) > 0.02


def test_an_unreadable_file_exits_non_zero_with_one_line(qapp, settings, tmp_path, capsys):
    bad = tmp_path / "broken.pcd"
    bad.write_text("VERSION .7\nFIELDS x y z\nPOINTS 10\nDATA ascii\n1 2\n")
    status = main([str(bad), "--screenshot", str(tmp_path / "never.png")])
    assert status == 1
    lines = [line for line in capsys.readouterr().err.splitlines() if line.startswith("casl-gui:")]
    assert len(lines) == 1 and "broken.pcd" in lines[0]
    assert not (tmp_path / "never.png").exists()


def test_an_unknown_field_exits_non_zero_naming_it(qapp, settings, tmp_path, capsys, scans_dir):
    fandisk = scans_dir / "common-3d-test-models" / "fandisk.obj"
    status = main([str(fandisk), "--color", "no_such_field", "--screenshot", str(tmp_path / "x.png")])
    assert status == 1
    assert "no_such_field" in capsys.readouterr().err


def test_pick_option_picks_a_point_and_refuses_one_outside_the_scan(qapp, settings, tmp_path, capsys, scans_dir):
    fandisk = scans_dir / "common-3d-test-models" / "fandisk.obj"
    assert main([str(fandisk), "--pick", "5", "--screenshot", str(tmp_path / "ok.png")]) == 0
    assert main([str(fandisk), "--pick", "6475", "--screenshot", str(tmp_path / "bad.png")]) == 1
    err = capsys.readouterr().err
    assert "6475" in err and "6475 points" in err
