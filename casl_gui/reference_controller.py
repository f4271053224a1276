"""The reference in the window: Model > Set reference, deviation scoring, the tolerance-band map.

Once a reference is set (a scan or CAD mesh file, a folder of good scans such as the
fine-tune training folder, or the demo's CAD model), every open scan is aligned to it and
scored in the background; then

- the view colours by signed deviation as inspection suites do: a diverging map (blue:
  material missing, red: material added) with points within plus or minus the tolerance
  drawn grey (:func:`deviation_spec`);
- the reference is drawn as a faint cloud aligned with the scan (View > Show reference);
- the alignment residual (RMSE) is shown in the status bar;
- the deviation score joins the scorers the verdict may come from (once calibrated).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import partial

import numpy as np
from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QFileDialog, QLabel, QWidget

from casl_core.errors import CaslError, ConfigError
from casl_core.fields import DEVIATION, DEVIATION_ABS
from casl_core.scan import Scan
from casl_gui import reference_jobs
from casl_gui.colouring import ColourSpec, FieldScale
from casl_gui.reference_jobs import ReferenceFit, Source
from casl_gui.state import AppState
from casl_gui.workers import JobRunner

#: The diverging colour map of signed deviation (blue below, red above).
DIVERGING = "coolwarm"


@dataclass(frozen=True)
class DeviationStyle:
    """How signed deviation is coloured.

    Attributes
    ----------
    tolerance:
        Points within plus or minus this deviation are drawn grey (> 0).
    half_range:
        The colour bar spans plus or minus this deviation (> tolerance).

    Raises
    ------
    ConfigError
        If the numbers are not positive and finite, or the range does not exceed the tolerance.
    """

    tolerance: float
    half_range: float

    def __post_init__(self) -> None:
        if not (np.isfinite(self.tolerance) and self.tolerance > 0):
            raise ConfigError(f"the tolerance must be positive, got {self.tolerance}")
        if not (np.isfinite(self.half_range) and self.half_range > self.tolerance):
            raise ConfigError(f"the colour range ({self.half_range}) must exceed the tolerance ({self.tolerance})")


def default_style(values: np.ndarray, rmse: float) -> DeviationStyle:
    """A starting style for a scan's signed deviation: tolerance three times the alignment RMSE
    (the noise of a good fit; without one, three times the median absolute deviation), range the
    99.5th percentile of the absolute deviation (at least three tolerances).
    """
    finite = np.abs(np.asarray(values, dtype=np.float64))
    finite = finite[np.isfinite(finite)]
    noise = rmse if rmse > 0 else (float(np.median(finite)) if len(finite) else 1.0)
    tolerance = 3.0 * noise
    tolerance = tolerance if tolerance > 0 else 1e-3
    top = float(np.percentile(finite, 99.5)) if len(finite) else 0.0
    return DeviationStyle(tolerance, max(top, 3.0 * tolerance))


def deviation_spec(spec: ColourSpec, style: DeviationStyle) -> ColourSpec:
    """The tolerance-band colouring of a signed deviation spec: diverging, grey within plus or
    minus the tolerance around the middle of its colour range (0 unless the person moved it).
    """
    lo, hi = spec.clim if spec.clim is not None else (0.0, 0.0)
    middle = 0.5 * (lo + hi)
    return spec._replace(
        cmap=DIVERGING,
        grey_band=(middle - style.tolerance, middle + style.tolerance),
        title=f"{spec.title}, grey within ± {style.tolerance:.3g}",
    )


class ReferenceController(QObject):
    """Holds the reference, its deviation scorer, each scan's fit and the deviation style.

    Signals
    -------
    changed():
        The reference, a fit, the style or the reference's visibility changed.
    scorer_ready(object):
        A deviation scorer was built for a new reference.
    """

    changed = Signal()
    scorer_ready = Signal(object)

    def __init__(self, window: QWidget, state: AppState, runner: JobRunner, alive) -> None:
        super().__init__(window)
        self._window = window
        self._state = state
        self._runner = runner
        self._alive = alive
        self.scorer = None
        self.name = ""
        self._fits: dict[int, ReferenceFit] = {}
        self._style: DeviationStyle | None = None
        self._show = True
        self.rmse_label = QLabel("")
        self.rmse_label.setToolTip("Residual of the alignment of the scan on show to its reference")
        state.scans_changed.connect(self._forget_closed)
        for signal in (state.field_changed, state.active_changed):
            signal.connect(self._ensure_style)

    def _ensure_style(self) -> None:
        """Give signed deviation a starting style once one is on show (a scored scan, or a file
        that brought its deviation along, as ``casl deviation`` writes it).
        """
        scan = self._state.active_scan()
        if self._style is not None or scan is None or DEVIATION not in scan.fields:
            return
        if DEVIATION in (self._state.field, self._state.second_field):
            fit = self.fit(self._state.active_key)
            self.set_style(default_style(scan.fields[DEVIATION], 0.0 if fit is None else fit.rmse))

    # -- the reference -----------------------------------------------------------------

    def choose_file(self) -> None:
        """Ask for a reference scan or CAD mesh file and use it."""
        from casl_gui.jobs import scan_suffixes

        patterns = " ".join(f"*{s}" for s in scan_suffixes())
        path, _ = QFileDialog.getOpenFileName(
            self._window, "Reference scan or CAD mesh", "", f"Scans and meshes ({patterns});;All files (*)"
        )
        if path:
            self.set_reference_path(path)

    def choose_folder(self) -> None:
        """Ask for a folder of good scans (the fine-tune training folder, say) and use them all."""
        folder = QFileDialog.getExistingDirectory(self._window, "Folder of good scans to compare with")
        if folder:
            self.set_reference_path(folder)

    def set_reference_path(self, path: str | os.PathLike[str]) -> None:
        """Use a file, or every scan file in a folder, as the reference(s)."""
        try:
            sources = reference_jobs.reference_sources(path)
        except CaslError as exc:
            self._window.report_error("Cannot use the reference", str(exc))
            return
        name = os.path.basename(os.fspath(path).rstrip(os.sep)) or os.fspath(path)
        self.set_reference(list(sources), name)

    def set_reference(self, sources: list[Source], name: str | None = None) -> None:
        """Build the deviation scorer for ``sources`` in the background, then score the open scans."""
        label = name or ", ".join(reference_jobs.source_name(s) for s in sources[:3])
        self._runner.submit(
            f"Preparing the reference {label}",
            partial(reference_jobs.make_scorer, sources, label),
            partial(self._scorer_built, label),
            partial(self._window.report_error, "Cannot use the reference"),
        )

    def _scorer_built(self, name: str, scorer) -> None:
        if not self._alive():
            return
        self.scorer, self.name, self._fits, self._style = scorer, name, {}, None
        self.scorer_ready.emit(scorer)
        self.changed.emit()
        self.score_open_scans()

    def score_open_scans(self) -> None:
        """Add the deviation fields to every open scan in the background."""
        scans = [(e.key, e.scan) for e in self._state.scans]
        if self.scorer is None or not scans:
            return
        self._runner.submit(
            f"Deviation from {self.name}",
            partial(reference_jobs.score_scans, self.scorer, scans),
            partial(self._scored, self.scorer),
            partial(self._window.report_error, "Deviation scoring failed"),
        )

    def _scored(self, scorer, results: dict[int, tuple[Scan, ReferenceFit] | str]) -> None:
        if not self._alive() or scorer is not self.scorer:
            return
        open_now = {e.key: e for e in self._state.scans}
        for key, result in results.items():
            entry = open_now.get(key)
            if entry is None:
                continue
            if isinstance(result, str):
                self._window.report_error(f"No deviation for {entry.name}", result)
                continue
            scored, fit = result
            if len(scored) != len(entry.scan):
                continue
            self._fits[key] = fit
            new = {n: v for n, v in scored.fields.items() if n not in entry.scan.fields or n.startswith("deviation")}
            self._state.replace_scan(key, entry.scan.with_fields(**new))
        active = self._state.active_scan()
        fit = self.fit(self._state.active_key)
        if active is not None and fit is not None and DEVIATION in active.fields:
            if self._style is None:
                self.set_style(default_style(active.fields[DEVIATION], fit.rmse))
            self._state.set_field(DEVIATION)
        self.changed.emit()

    def _forget_closed(self) -> None:
        keys = {e.key for e in self._state.scans}
        for key in [k for k in self._fits if k not in keys]:
            del self._fits[key]

    # -- what the window shows ---------------------------------------------------------

    def fit(self, key: int | None) -> ReferenceFit | None:
        """How the scan with ``key`` lies against its reference, if it was scored."""
        return None if key is None else self._fits.get(key)

    @property
    def style(self) -> DeviationStyle | None:
        """The deviation colouring in use (None until a scan was scored)."""
        return self._style

    def set_style(self, style: DeviationStyle) -> None:
        """Change the tolerance or range of the deviation colouring."""
        if style != self._style:
            self._style = style
            # the state's scale centres the colour bar on 0 and spans the range (shared by every scan)
            self._state.set_scale(DEVIATION, FieldScale(0.0, style.half_range))
            self._state.set_scale(DEVIATION_ABS, FieldScale(style.tolerance, style.tolerance))
            self.changed.emit()

    @property
    def show_reference(self) -> bool:
        """Whether the reference is drawn over the scan."""
        return self._show

    def set_show_reference(self, on: bool) -> None:
        """Draw (or hide) the reference cloud over the scan."""
        if bool(on) != self._show:
            self._show = bool(on)
            self.changed.emit()

    def style_spec(self, spec: ColourSpec) -> ColourSpec:
        """``spec`` with the tolerance-band map when it colours by signed deviation."""
        if spec.key == DEVIATION and self._style is not None:
            return deviation_spec(spec, self._style)
        return spec

    def overlay(self) -> np.ndarray | None:
        """The reference points to draw over the scan on show (None: nothing to draw)."""
        fit = self.fit(self._state.active_key)
        return None if fit is None or not self._show else fit.reference_points

    def rmse_text(self) -> str:
        """The status bar's text for the scan on show: ``"Alignment RMSE 0.041 to flange.stl"``."""
        fit = self.fit(self._state.active_key)
        return "" if fit is None else f"Alignment RMSE {fit.rmse:.3g} to {fit.reference}"
