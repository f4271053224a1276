"""Model checkpoints: safetensors weights with their description, written atomically.

Convention
----------
A checkpoint named ``PATH`` is two files:

``<stem>.safetensors``
    the weights, and in the safetensors header (``__metadata__["casl"]``) the JSON
    description. This file alone is the checkpoint: it is written atomically (temporary
    file, then rename), so a crash mid-write leaves the previous checkpoint whole.
``<stem>.json``
    a readable copy of the same description (config, training command, data fingerprint,
    versions, metrics), written atomically after the weights.

The two are one unit: every save draws a fresh ``save_id`` recorded in both descriptions. A
process killed between the two writes leaves new weights beside an older JSON; a reader
given the JSON finds the ids differ and refuses it (the weight file, whose own header holds
its description, stays usable). Readers given the weight file use its header only.

``PATH`` may be given as ``model.safetensors``, ``model.json`` or ``model`` (a name with any
other suffix gets ``.safetensors`` appended). The ``--out`` of training is what
``--checkpoint`` accepts.

The description's ``config`` is checked (types, ranges, estimated parameter count) when the
header is read, before any tensor is loaded or built.

Safety: loading never unpickles. The header is parsed by this module and the tensors by
the ``safetensors`` library; a pickle or ``torch.save`` zip file, whatever its name, is
refused with a :class:`~casl_core.errors.CheckpointError` before anything in it is read.
"""

from __future__ import annotations

import json
import os
import struct
import uuid
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import torch
from safetensors import safe_open
from safetensors.torch import save as save_tensors

from casl_core import __version__
from casl_core.atomic import atomic_write_bytes
from casl_core.errors import CaslError, CheckpointError

#: Value of the ``format`` key of every description.
CHECKPOINT_FORMAT = "casl-checkpoint"
#: Bumped when the layout of the description or of the weights changes incompatibly.
FORMAT_VERSION = 1
_META_KEY = "casl"
#: Key of the id both files of one save carry.
_SAVE_ID = "save_id"
_MAX_HEADER = 100 * 1024 * 1024


@dataclass(frozen=True)
class CheckpointPaths:
    """The two files of a checkpoint."""

    weights: Path
    sidecar: Path


def checkpoint_paths(path: str | os.PathLike[str]) -> CheckpointPaths:
    """The weight file and JSON sidecar a checkpoint ``path`` names (see the module docstring)."""
    p = Path(path)
    if p.suffix == ".safetensors":
        return CheckpointPaths(p, p.with_suffix(".json"))
    if p.suffix == ".json":
        return CheckpointPaths(p.with_suffix(".safetensors"), p)
    return CheckpointPaths(p.with_name(p.name + ".safetensors"), p.with_name(p.name + ".json"))


@dataclass(frozen=True)
class CheckpointInfo:
    """What a checkpoint says about itself.

    Attributes
    ----------
    kind:
        ``"pretrain"`` (xyz reconstruction) or ``"finetune"`` (anomaly logits).
    config_name:
        ``"small"``, ``"base"`` or ``"custom"``.
    config:
        The model configuration's fields (:class:`casl_core.nn.CaslConfig`).
    command:
        The command line (or API call) that trained it.
    data_fingerprint:
        SHA-256 over the sorted SHA-256 digests of the training files' contents.
    data_files:
        Number of training files.
    epoch:
        Epochs completed when it was written.
    metrics:
        E.g. ``{"val_point_auroc": 0.93, "loss": 0.12}``.
    training:
        Options of the run (learning rate, batch size, Norm-AS settings, seed, ...).
    version:
        casl version that wrote it.
    calibration:
        The model's thresholds learnt from normal data at the end of fine-tuning, as the
        JSON document of :mod:`casl_core.scorers.calibration_io`; ``None`` for a checkpoint
        written before calibration existed or not calibrated (it scores, but gives no verdict).
    inspector:
        The fused inspector fitted on this model (:mod:`casl_core.inspector`): fusion
        parameters, references by path and SHA-256, and the fused calibration; ``None`` if none.
    """

    kind: str
    config_name: str
    config: dict[str, Any]
    command: list[str] = field(default_factory=list)
    data_fingerprint: str = ""
    data_files: int = 0
    epoch: int = 0
    metrics: dict[str, float] = field(default_factory=dict)
    training: dict[str, Any] = field(default_factory=dict)
    version: str = __version__
    calibration: dict[str, Any] | None = None
    inspector: dict[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        """The description document, with ``format`` and ``format_version`` keys."""
        return {"format": CHECKPOINT_FORMAT, "format_version": FORMAT_VERSION, **asdict(self)}

    @classmethod
    def from_json(cls, doc: Any, where: str) -> CheckpointInfo:
        """Parse a description document.

        Raises
        ------
        CheckpointError
            If it is not a CASL description of a supported version.
        """
        if not isinstance(doc, dict) or doc.get("format") != CHECKPOINT_FORMAT:
            raise CheckpointError(f"{where}: not a CASL checkpoint (no '{CHECKPOINT_FORMAT}' description)")
        if doc.get("format_version") != FORMAT_VERSION:
            raise CheckpointError(
                f"{where}: checkpoint format version {doc.get('format_version')!r} is not "
                f"supported (this casl reads version {FORMAT_VERSION})"
            )
        names = {f.name for f in fields(cls)}
        missing = {"kind", "config_name", "config"} - set(doc)
        if missing:
            raise CheckpointError(f"{where}: checkpoint description lacks {', '.join(sorted(missing))}")
        _check_types(doc, where)
        from casl_core.nn.config import CaslConfig

        try:
            CaslConfig.from_dict(doc["config"])
        except CaslError as exc:
            raise CheckpointError(f"{where}: {exc}") from None
        return cls(**{k: v for k, v in doc.items() if k in names})


_TYPES: dict[str, tuple[type, ...]] = {
    "kind": (str,),
    "config_name": (str,),
    "config": (dict,),
    "command": (list,),
    "data_fingerprint": (str,),
    "data_files": (int,),
    "epoch": (int,),
    "metrics": (dict,),
    "training": (dict,),
    "version": (str,),
}


def _check_types(doc: dict[str, Any], where: str) -> None:
    for key, kinds in _TYPES.items():
        if key in doc and (not isinstance(doc[key], kinds) or isinstance(doc[key], bool)):
            raise CheckpointError(f"{where}: checkpoint description: {key!r} must be {kinds[0].__name__}")


@dataclass(frozen=True)
class Checkpoint:
    """A loaded checkpoint: the weights and their description."""

    state_dict: dict[str, torch.Tensor]
    info: CheckpointInfo
    path: Path


def save_checkpoint(
    path: str | os.PathLike[str], state_dict: dict[str, torch.Tensor], info: CheckpointInfo
) -> CheckpointPaths:
    """Write ``state_dict`` and ``info`` atomically as a checkpoint named ``path``.

    Returns
    -------
    CheckpointPaths
        The files written.
    """
    paths = checkpoint_paths(path)
    paths.weights.parent.mkdir(parents=True, exist_ok=True)
    doc = {**info.to_json(), _SAVE_ID: uuid.uuid4().hex}
    write_safetensors(paths.weights, state_dict, doc)
    atomic_write_bytes(paths.sidecar, (json.dumps(doc, indent=2) + "\n").encode())
    return paths


def write_safetensors(path: Path, tensors: dict[str, torch.Tensor], doc: dict[str, Any]) -> None:
    """Serialise ``tensors`` with ``doc`` as JSON in the header and write them atomically."""
    plain = {k: v.detach().to("cpu").contiguous() for k, v in tensors.items()}
    data = save_tensors(plain, metadata={_META_KEY: json.dumps(doc)})
    atomic_write_bytes(path, data)


def load_checkpoint(path: str | os.PathLike[str], device: str | torch.device = "cpu") -> Checkpoint:
    """Read a checkpoint without unpickling anything.

    Raises
    ------
    CheckpointError
        If the file is missing, pickle-based, not safetensors, or lacks a CASL description.
    """
    weights = resolve_weights(path)
    doc = read_safetensors_doc(weights)
    info = CheckpointInfo.from_json(doc, str(weights))
    tensors = read_safetensors_tensors(weights, device)
    return Checkpoint(state_dict=tensors, info=info, path=weights)


def read_checkpoint_info(path: str | os.PathLike[str]) -> CheckpointInfo:
    """The description of a checkpoint, reading only the file's header."""
    weights = resolve_weights(path)
    return CheckpointInfo.from_json(read_safetensors_doc(weights), str(weights))


def resolve_weights(path: str | os.PathLike[str]) -> Path:
    """The safetensors file of checkpoint ``path``, after refusing pickle files.

    Raises
    ------
    CheckpointError
        If the named file or its weights are missing, or the named file is a pickle.
    """
    given = Path(path)
    if given.is_file():
        refuse_pickle(given)
        if given.suffix == ".json":
            claimed = _check_json(given)
            weights = checkpoint_paths(given).weights
            if weights.is_file():
                _check_pair(given, weights, claimed)
        else:
            weights = given
    else:
        weights = checkpoint_paths(given).weights
    if not weights.is_file():
        raise CheckpointError(
            f"{weights}: checkpoint not found (give the .safetensors file written by training, or its .json)"
        )
    refuse_pickle(weights)
    return weights


def refuse_pickle(path: Path) -> None:
    """Raise :class:`CheckpointError` when ``path`` starts like a pickle or a ``torch.save`` zip."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(4)
    except OSError as exc:
        raise CheckpointError(f"{path}: cannot read the checkpoint: {exc.strerror or exc}") from None
    pickle_protocol = len(head) >= 2 and head[0] == 0x80 and 1 <= head[1] <= 5
    if pickle_protocol or head == b"PK\x03\x04":
        raise CheckpointError(
            f"{path}: refusing a pickle-based checkpoint (torch.save/pickle); loading it "
            f"could run arbitrary code - convert it to safetensors"
        )


def _check_json(path: Path) -> str | None:
    """Parse a checkpoint's JSON description; returns the save id it records, if any."""
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        raise CheckpointError(
            f"{path}: not a JSON checkpoint description and not safetensors; refusing to load it"
        ) from None
    save_id = doc.get(_SAVE_ID) if isinstance(doc, dict) else None
    return save_id if isinstance(save_id, str) else None


def _check_pair(description: Path, weights: Path, claimed: str | None) -> None:
    """Refuse a JSON description written by another save than the weight file beside it."""
    if claimed is None:
        return  # written before save ids were recorded: the weight file's own header decides
    doc = read_safetensors_doc(weights)
    if not isinstance(doc, dict) or doc.get(_SAVE_ID) != claimed:
        epochs = f" (epoch {doc.get('epoch')!r} in the weights)" if isinstance(doc, dict) else ""
        raise CheckpointError(
            f"{description}: describes another save than {weights}{epochs}: a save was interrupted "
            f"between the two files; give {weights} itself, whose header holds its own description"
        )


def read_safetensors_doc(path: Path) -> dict[str, Any]:
    """Parse a safetensors header by hand and return the CASL JSON document it carries.

    Raises
    ------
    CheckpointError
        If the file is not a well-formed safetensors file or carries no CASL document.
    """
    try:
        with open(path, "rb") as handle:
            size_bytes = handle.read(8)
            total = os.fstat(handle.fileno()).st_size
            if len(size_bytes) < 8:
                raise CheckpointError(f"{path}: not a safetensors file (only {total} bytes)")
            (size,) = struct.unpack("<Q", size_bytes)
            if size > min(total - 8, _MAX_HEADER):
                raise CheckpointError(
                    f"{path}: not a safetensors file (header length {size} does not fit a file of {total} bytes)"
                )
            header = handle.read(size)
    except OSError as exc:
        raise CheckpointError(f"{path}: cannot read the checkpoint: {exc.strerror or exc}") from None
    try:
        parsed = json.loads(header.decode("utf-8"))
        doc = json.loads(parsed["__metadata__"][_META_KEY])
    except (UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError):
        raise CheckpointError(
            f"{path}: not a CASL safetensors checkpoint (header unreadable or without the CASL description)"
        ) from None
    except RecursionError:
        raise CheckpointError(f"{path}: not a CASL safetensors checkpoint (header nested too deep)") from None
    return doc


def read_safetensors_tensors(path: Path, device: str | torch.device = "cpu") -> dict[str, torch.Tensor]:
    """Every tensor of a safetensors file, on ``device``.

    Raises
    ------
    CheckpointError
        If the library cannot read the file (truncated data, bad offsets).
    """
    try:
        with safe_open(str(path), framework="pt", device="cpu") as handle:
            tensors = {name: handle.get_tensor(name) for name in handle.keys()}
    except Exception as exc:  # safetensors raises its own error types
        message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise CheckpointError(f"{path}: corrupt safetensors data: {message}") from None
    return {k: v.to(device) for k, v in tensors.items()}
