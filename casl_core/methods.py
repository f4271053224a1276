"""The scorers ``casl eval --method`` (and any other caller) can pick by name.

One :class:`ScorerEntry` per method: its name, the field its scores go to (declared in
:mod:`casl_core.fields`), a one-line description and a factory that builds the
:class:`~casl_core.scorers.base.Scorer` from :class:`ScorerOptions`. Adding a scorer is its
own module under ``casl_core/scorers/`` plus one entry in :data:`SCORERS`; the command line
takes its choices, help and construction from here.

The factories import their scorer module when called, so reading this registry (building
the ``casl`` parser) loads neither torch nor a model.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from casl_core.errors import ConfigError
from casl_core.fields import CASL_SCORE, CURVATURE_SCORE, DEVIATION_SCORE, FUSED_SCORE
from casl_core.scorers.base import Scorer
from casl_core.scorers.defaults import DEFAULT_TTA
from casl_core.scorers.pooling import DEFAULT_TOP_FRACTION


@dataclass(frozen=True)
class ScorerOptions:
    """Everything a scorer factory may use; each scorer reads the options that concern it.

    Attributes
    ----------
    checkpoint:
        A fine-tuned checkpoint, or a folder of ``<category>.safetensors`` (scorers with a model).
    device:
        Where to compute: ``"auto"``, ``"cpu"``, ``"cuda"`` or ``"cuda:N"``.
    fusion:
        How the curvature baseline combines its scales.
    ks:
        Exact k-NN neighbourhood sizes for curvature, or ``None`` for the multi-scale mode.
    top_fraction:
        Fraction of points pooled into the object score.
    references:
        Reference scans or CAD meshes (deviation); none: each data-set category's train scans.
    tta:
        Poses the CASL model averages per scan (test-time augmentation; 1 for none).
    """

    checkpoint: str | os.PathLike[str] | None = None
    device: str = "auto"
    fusion: str = "mean"
    ks: Sequence[int] | None = None
    top_fraction: float = DEFAULT_TOP_FRACTION
    references: Sequence[str | os.PathLike[str]] = ()
    tta: int = DEFAULT_TTA


@dataclass(frozen=True)
class ScorerEntry:
    """One registered scorer.

    Attributes
    ----------
    name:
        The method name (``casl eval --method NAME``, result files).
    score_field:
        The per-point field its scores are written to.
    description:
        One line for help texts.
    make:
        Builds the scorer from options; raises :class:`~casl_core.errors.ConfigError` when
        an option it needs is missing.
    """

    name: str
    score_field: str
    description: str
    make: Callable[[ScorerOptions], Scorer]


def _curvature(options: ScorerOptions) -> Scorer:
    from casl_core.scorers.curvature import CurvatureBaseline

    ks = None if options.ks is None else tuple(options.ks)
    return CurvatureBaseline(fusion=options.fusion, ks=ks, top_fraction=options.top_fraction, device=options.device)


def _casl(options: ScorerOptions) -> Scorer:
    from casl_core.scorers.casl import CaslScorer

    if not options.checkpoint:
        raise ConfigError("--method casl needs --checkpoint PATH (a fine-tuned checkpoint)")
    return CaslScorer(options.checkpoint, options.device, top_fraction=options.top_fraction, tta=options.tta)


def _deviation(options: ScorerOptions) -> Scorer:
    from casl_core.scorers.deviation import DeviationScorer

    missing = [str(r) for r in options.references if not os.path.isfile(r)]
    if missing:
        raise ConfigError(f"reference file not found: {', '.join(missing)}")
    return DeviationScorer(references=list(options.references), top_fraction=options.top_fraction)


def _fused(options: ScorerOptions) -> Scorer:
    from casl_core.inspector import InspectorScorer

    if not options.checkpoint:
        raise ConfigError("--method fused needs --checkpoint PATH (a fine-tuned CASL checkpoint)")
    return InspectorScorer(options.checkpoint, options.device)


#: Method name -> scorer entry, in the order help texts list them (the first is the default).
SCORERS: dict[str, ScorerEntry] = {
    entry.name: entry
    for entry in (
        ScorerEntry("curvature", CURVATURE_SCORE, "the training-free multi-scale curvature baseline", _curvature),
        ScorerEntry("casl", CASL_SCORE, "a fine-tuned CASL checkpoint (needs --checkpoint)", _casl),
        ScorerEntry(
            "deviation",
            DEVIATION_SCORE,
            "signed distance to the best-aligned known-good reference (--reference, else each category's "
            "train scans), missing material scored on its rim",
            _deviation,
        ),
        ScorerEntry(
            "fused",
            FUSED_SCORE,
            "CASL, reference deviation and curvature on one scale, the per-point maximum (needs --checkpoint; "
            "the inspector casl fuse stored in it, else one fitted on each category's train scans)",
            _fused,
        ),
    )
}


def scorer_entry(name: str) -> ScorerEntry:
    """The registered scorer called ``name``.

    Raises
    ------
    ConfigError
        For a name no scorer is registered under.
    """
    try:
        return SCORERS[name]
    except KeyError:
        raise ConfigError(f"unknown scoring method {name!r}; choose from {', '.join(SCORERS)}") from None


def make_scorer(name: str, options: ScorerOptions | None = None) -> Scorer:
    """Build the scorer registered as ``name`` with ``options`` (defaults when ``None``).

    Raises
    ------
    ConfigError
        For an unknown name, or an option the scorer needs that is missing.
    CheckpointError
        If a scorer's checkpoint cannot be used.
    """
    return scorer_entry(name).make(options or ScorerOptions())
