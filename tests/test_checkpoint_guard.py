"""Checkpoint configs are validated before anything is built; weights and JSON stay one unit."""

from __future__ import annotations

import json
import time

import pytest
import torch
from safetensors.torch import save_file

import casl_core.nn.checkpoint as checkpoint_module
from casl_core.errors import CheckpointError, ConfigError
from casl_core.nn.casl_net import CaslNet
from casl_core.nn.checkpoint import CheckpointInfo, load_checkpoint, read_checkpoint_info, save_checkpoint
from casl_core.nn.config import BASE, MAX_PARAMETERS, SMALL, CaslConfig, estimated_parameters


def _info(epoch: int, **config) -> CheckpointInfo:
    return CheckpointInfo(kind="finetune", config_name="custom", config={**SMALL.to_dict(), **config}, epoch=epoch)


def _hostile(path, config: dict) -> None:
    doc = {"format": "casl-checkpoint", "format_version": 1, "kind": "finetune", "config_name": "x", "config": config}
    save_file({"w": torch.zeros(2)}, str(path), metadata={"casl": json.dumps(doc)})


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"stem_kernel": 1001}, "stem_kernel must be in 1..9"),
        ({"stem_kernel": 9, "stem_channels": 4096, "token_channels": 1024}, "parameters, more than"),
        ({"encoder_channels": [4096, 4096, 4096, 4096]}, "parameters, more than"),
        ({"encoder_depths": [10**6, 1, 1, 1]}, "encoder_depths must be in 1..64"),
        ({"encoder_depths": [64, 64, 64, 64], "encoder_channels": [1024] * 4}, "parameters, more than"),
        ({"stem_channels": 16.5}, "stem_channels must be a whole number"),
        ({"stem_channels": True}, "stem_channels must be a whole number"),
        ({"head_hidden": "64"}, "head_hidden must be a whole number"),
        ({"decoder_channels": [1, 2, 3]}, "must have 4 entries"),
        ({"prompt_channels": 7}, "must be a list of 4 integers"),
        ({"voxel_size": float("nan")}, "voxel size must be in"),
        ({"voxel_size": 1e300}, "voxel size must be in"),
        ({"curvature_channels": 0}, "curvature_channels must be in 1..64"),
        ({"stem_kernel": 4}, "stem kernel must be odd"),
        ({"nonsense": 1}, "unknown CASL config keys"),
    ],
)
def test_a_hostile_config_is_refused_in_milliseconds_on_one_line(tmp_path, change, expected):
    path = tmp_path / "evil.safetensors"
    _hostile(path, {**SMALL.to_dict(), **change})
    start = time.perf_counter()
    for reader in (read_checkpoint_info, load_checkpoint):
        with pytest.raises(CheckpointError) as info:
            reader(path)
        message = str(info.value)
        assert expected in message and str(path) in message and "\n" not in message
    assert time.perf_counter() - start < 0.5


def test_a_config_that_is_not_an_object_is_refused(tmp_path):
    path = tmp_path / "evil.safetensors"
    _hostile(path, [1, 2, 3])
    with pytest.raises(CheckpointError, match="must be dict"):
        load_checkpoint(path)


@pytest.mark.parametrize(
    "config",
    [
        SMALL,
        BASE,
        CaslConfig(prompt_depth=0, encoder_channels=(8, 16, 16, 40), stem_kernel=3),
        CaslConfig(token_channels=7, curvature_channels=5, decoder_depths=(1, 3, 1, 2), head_hidden=9),
    ],
)
def test_the_estimate_is_the_real_parameter_count(config):
    assert estimated_parameters(config) == CaslNet(config).parameter_count()


def test_the_parameter_limit_is_clear_and_allows_the_presets():
    assert estimated_parameters(BASE) < MAX_PARAMETERS // 4
    with pytest.raises(ConfigError, match=f"more than the {MAX_PARAMETERS:,} allowed"):
        CaslConfig(encoder_channels=(4096,) * 4)


def test_a_kill_between_the_weights_and_the_json_is_detected(tmp_path, monkeypatch):
    torch.manual_seed(0)
    net = CaslNet(SMALL)
    out = tmp_path / "model.safetensors"
    save_checkpoint(out, net.state_dict(), _info(epoch=1))
    old_json = (tmp_path / "model.json").read_bytes()
    assert load_checkpoint(tmp_path / "model.json").info.epoch == 1

    real_write = checkpoint_module.atomic_write_bytes

    def killed_at_the_json(path, data):
        if str(path).endswith(".json"):
            raise KeyboardInterrupt  # the process dies after the weights were renamed into place
        real_write(path, data)

    monkeypatch.setattr(checkpoint_module, "atomic_write_bytes", killed_at_the_json)
    with torch.no_grad():
        for p in net.parameters():
            p.add_(1.0)
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint(out, net.state_dict(), _info(epoch=2))
    monkeypatch.undo()
    assert (tmp_path / "model.json").read_bytes() == old_json  # the JSON is the older save
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(tmp_path / "model.json")
    assert "describes another save" in str(info.value) and "epoch 2" in str(info.value)
    with pytest.raises(CheckpointError):
        read_checkpoint_info(tmp_path / "model.json")
    # the weight file alone is consistent: its header describes its own epoch
    ckpt = load_checkpoint(out)
    assert ckpt.info.epoch == 2
    assert torch.equal(ckpt.state_dict["class_head.0.weight"], net.state_dict()["class_head.0.weight"])
    # the next complete save makes the pair whole again
    save_checkpoint(out, net.state_dict(), _info(epoch=3))
    assert load_checkpoint(tmp_path / "model.json").info.epoch == 3
