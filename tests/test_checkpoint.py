"""Checkpoints: round trip, atomic writes, and pickle files refused without running them."""

from __future__ import annotations

import builtins
import json
import os
import pickle
import subprocess
import sys

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import load_file

import casl_core.atomic
from casl_core.errors import CheckpointError
from casl_core.nn.casl_net import CaslNet
from casl_core.nn.checkpoint import CheckpointInfo, checkpoint_paths, load_checkpoint, save_checkpoint
from casl_core.nn.config import config_by_name
from casl_core.train.resume import (
    ResumeState,
    flatten_optimizer,
    load_resume_state,
    save_resume_state,
    unflatten_optimizer,
)


def _model(seed: int) -> CaslNet:
    torch.manual_seed(seed)
    return CaslNet(config_by_name("small"))


def _info(epoch: int = 3) -> CheckpointInfo:
    return CheckpointInfo(
        kind="finetune",
        config_name="small",
        config=config_by_name("small").to_dict(),
        command=["casl", "finetune", "--train", "x"],
        data_fingerprint="ab" * 32,
        data_files=4,
        epoch=epoch,
        metrics={"val_point_auroc": 0.9},
        training={"lr": 0.002},
    )


def test_round_trip_keeps_every_tensor_and_the_description(tmp_path):
    model = _model(0)
    paths = save_checkpoint(tmp_path / "model.safetensors", model.state_dict(), _info())
    assert paths.weights.name == "model.safetensors" and paths.sidecar.name == "model.json"
    for given in ("model.safetensors", "model.json", "model"):
        ckpt = load_checkpoint(tmp_path / given)
        assert ckpt.info == _info()
        assert ckpt.state_dict.keys() == model.state_dict().keys()
        for name, value in model.state_dict().items():
            assert torch.equal(ckpt.state_dict[name], value), name
    # Independent readers: the safetensors library and a JSON parser agree with what was written.
    plain = load_file(str(paths.weights))
    assert torch.equal(plain["class_head.0.weight"], model.state_dict()["class_head.0.weight"])
    with safe_open(str(paths.weights), framework="pt") as handle:
        embedded = json.loads(handle.metadata()["casl"])
    sidecar = json.loads(paths.sidecar.read_text())
    assert embedded == sidecar
    assert sidecar["config"]["name"] == "small" and sidecar["command"][:2] == ["casl", "finetune"]
    assert sidecar["format"] == "casl-checkpoint" and sidecar["version"]


def test_other_suffixes_get_safetensors_appended():
    paths = checkpoint_paths("runs/bagel.v2")
    assert (paths.weights.name, paths.sidecar.name) == ("bagel.v2.safetensors", "bagel.v2.json")


class _HalfWriter:
    """A file object that writes half of the data, then fails like a full disk."""

    def __init__(self, handle):
        self._handle = handle

    def write(self, data):
        self._handle.write(bytes(data)[: len(data) // 2])
        raise OSError(28, "No space left on device")

    def __getattr__(self, name):
        return getattr(self._handle, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return self._handle.__exit__(*exc)


def test_failure_mid_write_leaves_the_previous_checkpoint_intact(tmp_path, monkeypatch):
    first = _model(0)
    save_checkpoint(tmp_path / "model.safetensors", first.state_dict(), _info(epoch=1))
    before = sorted(os.listdir(tmp_path))
    real_fdopen = os.fdopen
    monkeypatch.setattr(casl_core.atomic.os, "fdopen", lambda fd, mode: _HalfWriter(real_fdopen(fd, mode)))
    with pytest.raises(OSError, match="No space"):
        save_checkpoint(tmp_path / "model.safetensors", _model(1).state_dict(), _info(epoch=2))
    monkeypatch.undo()
    assert sorted(os.listdir(tmp_path)) == before  # no temporary file left behind
    ckpt = load_checkpoint(tmp_path / "model.safetensors")
    assert ckpt.info.epoch == 1
    assert torch.equal(ckpt.state_dict["class_head.0.weight"], first.state_dict()["class_head.0.weight"])


def test_truncated_checkpoint_gives_one_line_error(tmp_path):
    paths = save_checkpoint(tmp_path / "m.safetensors", _model(0).state_dict(), _info())
    data = paths.weights.read_bytes()
    paths.weights.write_bytes(data[: len(data) // 3])
    with pytest.raises(CheckpointError) as err:
        load_checkpoint(paths.weights)
    assert str(paths.weights) in str(err.value) and "\n" not in str(err.value)


class _Payload:
    """Unpickling this calls ``open(marker, "w")``, which creates the marker file."""

    def __init__(self, marker: str):
        self.marker = marker

    def __reduce__(self):
        return (builtins.open, (self.marker, "w"))


def test_the_pickle_payload_is_live_when_unpickled(tmp_path):
    marker = tmp_path / "control_marker"
    blob = tmp_path / "blob.pkl"
    blob.write_bytes(pickle.dumps(_Payload(str(marker)), protocol=4))
    subprocess.run([sys.executable, "-c", f"import pickle; pickle.loads(open({str(blob)!r}, 'rb').read())"], check=True)
    assert marker.exists()  # so the refusal tests below would notice a load that unpickles


@pytest.mark.parametrize("name", ["model.safetensors", "model.pt", "model.json"])
@pytest.mark.parametrize("protocol", [0, 2, 4, 5])
def test_pickle_files_are_refused_and_never_run(tmp_path, name, protocol):
    marker = tmp_path / "marker"
    path = tmp_path / name
    path.write_bytes(pickle.dumps(_Payload(str(marker)), protocol=protocol))
    with pytest.raises(CheckpointError) as err:
        load_checkpoint(path)
    message = str(err.value)
    assert "\n" not in message and str(path) in message
    if protocol >= 2:
        assert "pickle" in message
    assert not marker.exists()


def test_torch_save_zip_is_refused_whatever_its_name(tmp_path):
    for name in ("model.pt", "model.safetensors"):
        path = tmp_path / name
        torch.save(_model(0).state_dict(), path)
        with pytest.raises(CheckpointError, match="pickle"):
            load_checkpoint(path)


def test_optimizer_state_flattens_to_tensors_and_back():
    model = _model(0)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    model.class_head[0].weight.sum().backward()
    opt.step()
    state = opt.state_dict()
    tensors, doc = flatten_optimizer(state)
    assert all(isinstance(v, torch.Tensor) for v in tensors.values())
    json.dumps(doc)
    back = unflatten_optimizer(tensors, json.loads(json.dumps(doc)))
    assert back["state"].keys() == state["state"].keys()
    for index, per_param in state["state"].items():
        for key, value in per_param.items():
            assert torch.equal(back["state"][index][key], value)
    fresh = torch.optim.AdamW(model.parameters(), lr=1e-3)
    fresh.load_state_dict(back)


def test_resume_state_round_trip(tmp_path):
    model = _model(2)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    model.class_head[0].weight.square().sum().backward()
    opt.step()
    rng = torch.get_rng_state()
    save_resume_state(
        tmp_path / "m.safetensors",
        ResumeState(model.state_dict(), opt.state_dict(), 5, 0.75, rng, {"kind": "finetune", "history": []}),
    )
    assert (tmp_path / "m.resume.safetensors").is_file()
    state = load_resume_state(tmp_path / "m.safetensors")
    assert (state.epoch, state.best_metric, state.run["kind"]) == (5, 0.75, "finetune")
    assert torch.equal(state.torch_rng, rng)
    assert torch.equal(state.model["class_head.0.weight"], model.state_dict()["class_head.0.weight"])
    with pytest.raises(CheckpointError, match="no resumable state"):
        load_resume_state(tmp_path / "other.safetensors")
