"""The bundled pretrained model: loads safely, and its training data are what `casl parts` makes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from casl_core.nn.checkpoint import load_checkpoint, read_checkpoint_info
from casl_core.train.data import data_fingerprint, file_digest, find_scan_files
from casl_core.train.start import bundled_weights


def test_bundled_model_is_a_small_pretrained_checkpoint():
    path = bundled_weights()
    assert path is not None and path.is_file()
    assert path.stat().st_size < 8 * 2**20
    info = read_checkpoint_info(path)
    assert info.kind == "pretrain" and info.config_name == "small"
    ckpt = load_checkpoint(path)
    assert len(ckpt.state_dict) > 10 and ckpt.info.config_name == "small"


def test_bundled_model_data_are_regenerated_by_the_documented_command(tmp_path):
    path = bundled_weights()
    meta = json.loads(Path(path).with_suffix(".json").read_text())
    cmd = meta["command"]
    assert cmd[:2] == ["casl", "pretrain"]
    # the README's first command: casl parts --out parts --count 8 --points 15000 --seed 0
    out = tmp_path / "parts"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "casl_core.cli",
            "parts",
            "--out",
            str(out),
            "--count",
            "8",
            "--points",
            "15000",
            "--seed",
            "0",
        ],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr
    files = find_scan_files([out])
    assert len(files) == meta["data_files"] == 32
    assert data_fingerprint([file_digest(f) for f in files]) == meta["data_fingerprint"]
