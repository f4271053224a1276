"""A trained inspector: CASL, reference deviation and curvature, fused and calibrated, in one checkpoint.

:func:`fit_inspector` takes a fine-tuned CASL checkpoint and the category's normal scans
(the fine-tune training folder) and learns what the fused scorer needs:

1. the components: the curvature baseline, the CASL model, and the deviation scorer with
   the normal scans as references;
2. each component's normalisation against the normal scans, every scan scored without
   itself among the references (:func:`casl_core.scorers.fused.fit_fusion`);
3. the fused scorer's calibration (thresholds at a false-alarm rate, from the normal scans
   and augmented copies, leave-one-out; :func:`casl_core.scorers.calibration.calibrate`).

The result is stored in the checkpoint's description under ``inspector``: the fusion
parameters, the fused calibration, and the references by path and SHA-256 of their
contents, so the checkpoint alone says how to rebuild the inspector and a moved or changed
reference is refused rather than silently used. :func:`load_inspector` rebuilds it.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from casl_core.errors import CheckpointError, ConfigError
from casl_core.fields import FUSED_SCORE
from casl_core.progress import CancelFn, ProgressFn
from casl_core.scan import Scan
from casl_core.scorers.base import ScanScores, Scorer
from casl_core.scorers.calibration import DEFAULT_FALSE_ALARM_RATE, Calibration, calibrate
from casl_core.scorers.fused import FusedScorer, FusionParams, fit_fusion

#: Version of the ``inspector`` entry of a checkpoint description.
INSPECTOR_VERSION = 1


@dataclass(frozen=True)
class ReferenceFile:
    """A reference scan named by path and the SHA-256 of its bytes."""

    path: str
    sha256: str

    def check(self, where: str) -> Path:
        """The path, after checking the file is still there with the same contents.

        Raises
        ------
        CheckpointError
            Naming ``where`` and the reference, when it is missing or changed.
        """
        path = Path(self.path)
        if not path.is_file():
            raise CheckpointError(f"{where}: reference {path} is missing (the inspector was fitted with it)")
        if file_sha256(path) != self.sha256:
            raise CheckpointError(f"{where}: reference {path} changed since the inspector was fitted with it")
        return path


def file_sha256(path: Path) -> str:
    """SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@dataclass(frozen=True)
class InspectorSpec:
    """What a checkpoint keeps of its inspector (the ``inspector`` entry of its description)."""

    fusion: FusionParams
    references: tuple[ReferenceFile, ...]
    calibration: Calibration

    def to_json(self) -> dict[str, Any]:
        """The JSON document stored in the checkpoint description."""
        from casl_core.scorers.calibration_io import to_json

        return {
            "version": INSPECTOR_VERSION,
            "fusion": self.fusion.to_json(),
            "references": [{"path": r.path, "sha256": r.sha256} for r in self.references],
            "calibration": to_json(self.calibration),
        }

    @classmethod
    def from_json(cls, doc: Any, where: str) -> InspectorSpec:
        """Parse :meth:`to_json`'s document.

        Raises
        ------
        CheckpointError
            Naming ``where``, when it is malformed.
        """
        from casl_core.scorers.calibration_io import from_json

        try:
            if not isinstance(doc, dict) or doc.get("version") != INSPECTOR_VERSION:
                raise TypeError(f"not a version {INSPECTOR_VERSION} inspector description")
            refs = doc.get("references")
            if not isinstance(refs, list) or not all(
                isinstance(r, dict) and isinstance(r.get("path"), str) and isinstance(r.get("sha256"), str)
                for r in refs
            ):
                raise TypeError("references must be a list of {path, sha256}")
            fusion = FusionParams.from_json(doc.get("fusion"), where)
            calibration = from_json(doc.get("calibration"), f"{where}: inspector calibration")
        except (TypeError, ConfigError) as exc:
            raise CheckpointError(f"{where}: bad inspector description: {exc}") from None
        return cls(fusion, tuple(ReferenceFile(r["path"], r["sha256"]) for r in refs), calibration)


def build_components(
    checkpoint: str | os.PathLike[str], references: Sequence[str | os.PathLike[str]], device: str = "auto"
) -> list[Scorer]:
    """The fused scorer's components, in running order: curvature, CASL, and deviation when there are references."""
    from casl_core.scorers.casl import CaslScorer
    from casl_core.scorers.curvature import CurvatureBaseline

    components: list[Scorer] = [
        CurvatureBaseline(device=device if device != "auto" else "cpu"),
        CaslScorer(checkpoint, device),
    ]
    if references:
        from casl_core.scorers.deviation import DeviationScorer

        components.append(DeviationScorer(references=[str(r) for r in references]))
    return components


def fit_inspector(
    checkpoint: str | os.PathLike[str],
    normal: Sequence[str | os.PathLike[str]],
    *,
    references: Sequence[str | os.PathLike[str]] | None = None,
    false_alarm_rate: float = DEFAULT_FALSE_ALARM_RATE,
    device: str = "auto",
    progress: ProgressFn | None = None,
    cancel: CancelFn | None = None,
) -> InspectorSpec:
    """Learn the fusion and its calibration from normal scan files and store them in the checkpoint.

    Parameters
    ----------
    checkpoint:
        A fine-tuned CASL checkpoint; its description gets the ``inspector`` entry
        (rewritten atomically, weights unchanged).
    normal:
        Normal scan files of the category (the fine-tune training scans).
    references:
        Reference files for the deviation scorer (default: the normal files themselves,
        each left out while it is being scored).

    Raises
    ------
    ConfigError, CheckpointError, ScanFormatError
        On unusable inputs.
    """
    from casl_core.io import read_scan
    from casl_core.nn.checkpoint import load_checkpoint, save_checkpoint

    files = [Path(f) for f in normal]
    if not files:
        raise ConfigError("fitting an inspector needs at least one normal scan")
    refs = [Path(r) for r in (references if references is not None else files)]
    scans = [read_scan(f) for f in files]
    components = build_components(checkpoint, refs, device)
    params = fit_fusion(components, scans, progress=progress, cancel=cancel)
    fused = FusedScorer(components, params)
    cal = calibrate(fused, scans, false_alarm_rate=false_alarm_rate, progress=progress, cancel=cancel)
    spec = InspectorSpec(params, tuple(ReferenceFile(str(r.resolve()), file_sha256(r)) for r in refs), cal)
    ckpt = load_checkpoint(checkpoint)
    save_checkpoint(ckpt.path, ckpt.state_dict, replace(ckpt.info, inspector=spec.to_json()))
    return spec


def inspector_spec(checkpoint: str | os.PathLike[str]) -> InspectorSpec | None:
    """The inspector stored in a checkpoint, or ``None`` when it has none.

    Raises
    ------
    CheckpointError
        When the checkpoint or its inspector entry is unusable.
    """
    from casl_core.nn.checkpoint import read_checkpoint_info, resolve_weights

    info = read_checkpoint_info(checkpoint)
    if info.inspector is None:
        return None
    return InspectorSpec.from_json(info.inspector, str(resolve_weights(checkpoint)))


def load_inspector(checkpoint: str | os.PathLike[str], device: str = "auto") -> tuple[FusedScorer, Calibration]:
    """The fused scorer a checkpoint describes, and its calibration.

    Raises
    ------
    CheckpointError
        When the checkpoint has no inspector (fit one with ``casl fuse``) or a reference
        is missing or changed.
    """
    spec = inspector_spec(checkpoint)
    if spec is None:
        raise CheckpointError(
            f"{checkpoint}: no fused inspector in this checkpoint; fit one with "
            f"casl fuse --checkpoint {checkpoint} --normal DIR"
        )
    refs = [r.check(str(checkpoint)) for r in spec.references]
    return FusedScorer(build_components(checkpoint, refs, device), spec.fusion), spec.calibration


class InspectorScorer:
    """``--method fused``: the inspector a checkpoint stores, or one fitted on a category's normal scans.

    With a checkpoint that holds an inspector (``casl fuse``), it is used as stored, with its
    calibration. Otherwise, when a data set gives the category's normal (train) scans
    (:meth:`for_category_scans`, as :func:`casl_core.evaluate.evaluate` does), the fusion is
    fitted on them in memory, the checkpoint left untouched, and the caller calibrates it.

    Parameters
    ----------
    checkpoint:
        A fine-tuned CASL checkpoint, or a folder of ``<category>.safetensors``.
    device:
        Where CASL runs.

    Raises
    ------
    CheckpointError
        When the checkpoint or its stored inspector is unusable.
    """

    name = "fused"
    score_field = FUSED_SCORE

    def __init__(self, checkpoint: str | os.PathLike[str], device: str = "auto") -> None:
        self.checkpoint = Path(checkpoint)
        self.device = device
        self._fused: FusedScorer | None = None
        self.calibration: Calibration | None = None
        if not self.checkpoint.is_dir() and inspector_spec(self.checkpoint) is not None:
            self._fused, self.calibration = load_inspector(self.checkpoint, device)

    def for_category(self, category: str) -> InspectorScorer:
        """Itself for one checkpoint; the category's ``<folder>/<category>.safetensors`` for a folder.

        Raises
        ------
        CheckpointError
            If the folder holds no checkpoint for ``category``.
        """
        from casl_core.scorers.casl import category_checkpoint

        if not self.checkpoint.is_dir():
            return self
        return InspectorScorer(category_checkpoint(self.checkpoint, category), self.device)

    def for_category_scans(self, category: str, normal: Sequence[Path]) -> InspectorScorer:
        """The category's scorer; fitted on ``normal`` (also the deviation references) if none is stored."""
        scorer = self.for_category(category)
        if scorer._fused is not None:
            return scorer
        if not normal:
            raise ConfigError(f"category {category}: no stored inspector and no normal scan to fit one on")
        from casl_core.io import read_scan

        components = build_components(scorer.checkpoint, list(normal), self.device)
        params = fit_fusion(components, [read_scan(p) for p in normal])
        fitted = InspectorScorer.__new__(InspectorScorer)
        fitted.checkpoint, fitted.device, fitted.calibration = scorer.checkpoint, self.device, None
        fitted._fused = FusedScorer(components, params)
        return fitted

    def without_reference(self, source: str) -> FusedScorer:
        """The fused scorer without ``source`` among the deviation references (leave-one-out)."""
        return self._ready().without_reference(source)

    def score(self, scan: Scan, *, progress: ProgressFn | None = None, cancel: CancelFn | None = None) -> ScanScores:
        """Score ``scan`` with the fused inspector (see :class:`~casl_core.scorers.fused.FusedScorer`)."""
        return self._ready().score(scan, progress=progress, cancel=cancel)

    def _ready(self) -> FusedScorer:
        if self._fused is None:
            raise CheckpointError(
                f"{self.checkpoint}: no fused inspector in this checkpoint; fit one with casl fuse "
                f"--checkpoint {self.checkpoint} --normal DIR, or evaluate on a data set with train scans"
            )
        return self._fused
