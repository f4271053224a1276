"""Gather a report of the scan on show from the window: screenshots, settings, model, metrics, tables."""

from __future__ import annotations

import hashlib
import io

import numpy as np
from PIL import Image
from PySide6.QtCore import QBuffer, QByteArray, QIODevice
from PySide6.QtWidgets import QApplication, QWidget

from casl_core.annotations import utc_now
from casl_core.errors import ConfigError
from casl_core.metrics import auroc
from casl_gui.colouring import (
    BASELINE_SCORE,
    CASL_SCORE,
    curvature_fields,
    field_text,
    field_values,
    is_scalar,
)
from casl_gui.report import ReportContent, ReportImage
from casl_gui.table_rows import ANNOTATION_COLUMNS, REGION_COLUMNS, annotation_rows, region_rows

_VIEW_WIDTH_PX = 640
_VIEW_HEIGHT_PX = 400  # so the views and the verdict fit on the first page


def _png(image: np.ndarray) -> bytes:
    out = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(image)).save(out, format="PNG")
    return out.getvalue()


def _widget_png(widget: QWidget) -> bytes:
    data = QByteArray()
    buffer = QBuffer(data)
    buffer.open(QIODevice.OpenModeFlag.WriteOnly)
    widget.grab().save(buffer, "PNG")
    buffer.close()
    return bytes(data.data())


#: Size of the two views side by side in a report shot (whatever the window's shape).
SHOT_SIZE = (1280, 600)


def top_region_centre(window) -> int | None:
    """Index of the centre point of the scan on show's top listed region, None without regions."""
    found = window.inspection.regions(window.state.active_key)
    if found is None or found.field != window.state.field or not found.result.regions:
        return None
    return int(found.result.regions[0].centre_index)


def views_image(window) -> np.ndarray:
    """Both views side by side, framed on the whole part; below them, when the scan has
    regions, both views turned to its top region (the whole part still in view).

    Compare mode is switched on for the shots and the camera put back after them.
    """
    state, viewport = window.state, window.viewport
    was = state.compare
    if not was:
        state.set_compare(True)
        QApplication.processEvents()
    pose = viewport.camera()
    try:
        with viewport.rendered_at(*SHOT_SIZE):
            viewport.reset_view()
            shots = [viewport.screenshot()]
            centre = top_region_centre(window)
            if centre is not None:
                viewport.fly_to_region(centre)
                shots.append(viewport.screenshot())
        return np.concatenate(shots, axis=0)
    finally:
        viewport.set_camera(pose)
        if not was:
            state.set_compare(False)
            QApplication.processEvents()


def model_rows(scorer) -> list[tuple[str, str]]:
    """The scorer's name and configuration (checkpoint, its digest and training facts for CASL)."""
    if getattr(scorer, "name", "") == "casl":
        path = str(scorer.checkpoint)
        with open(path, "rb") as handle:
            digest = hashlib.file_digest(handle, "sha256")
        from casl_core.errors import CaslError
        from casl_core.nn.checkpoint import read_checkpoint_info

        try:
            info = read_checkpoint_info(path)
        except CaslError:
            info = None
        rows = [("Scorer", "CASL model"), ("Checkpoint", path), ("SHA-256", digest.hexdigest())]
        if info is not None:
            rows += [
                ("Config", info.config_name),
                ("Kind", info.kind),
                ("Epochs", str(info.epoch)),
                ("Training data", f"{info.data_files} files, fingerprint {info.data_fingerprint[:16]}…"),
            ]
        return rows + [("Object score", f"mean of the top {100 * scorer.top_fraction:g} % point scores")]
    return [
        ("Scorer", "curvature baseline (training-free)"),
        ("Fusion", f"{scorer.fusion} over the curvature scales"),
        ("Scales", "voxel pyramid s16, s64, s256" if scorer.ks is None else f"exact k-NN, k = {list(scorer.ks)}"),
        ("Object score", f"mean of the top {100 * scorer.top_fraction:g} % point scores"),
    ]


def metric_rows(scan) -> list[tuple[str, str]]:
    """Point AUROC of each score field against the ground truth, when the scan has labels."""
    if scan.labels is None:
        return [("Point AUROC", "no ground-truth labels in this scan")]
    labels = scan.labels
    if labels.min() == labels.max():
        return [("Point AUROC", "the labels have one class only")]
    rows = [("Anomalous points", f"{int(labels.sum()):,} of {len(labels):,}")]
    for key in (CASL_SCORE, BASELINE_SCORE, *curvature_fields(scan)):
        values = scan.fields.get(key)
        if values is not None and np.isfinite(values).all():
            rows.append((f"Point AUROC, {field_text(key)}", f"{auroc(labels, values):.4f}"))
    return rows


def _colouring_rows(window) -> list[tuple[str, str]]:
    s, ins = window.state, window.inspection
    rows = [("Left view", field_text(s.field)), ("Right view", field_text(s.second_field))]
    if is_scalar(s.field):
        scale = s.scale(s.field)
        lo, hi = scale.clim
        rows += [
            ("Threshold", f"{scale.threshold:.6g}"),
            ("Colour range", f"{lo:.6g} to {hi:.6g} ({s.cmap})"),
            ("Below the threshold", "greyed out" if s.grey_below else "coloured"),
        ]
    rows += [("Regions listed from", f"{ins.min_points} points"), ("A scan fails at", f"a region of {ins.fail_points}")]
    found = ins.regions(s.active_key)
    if found is not None:
        rows.append(("Link radius", f"{found.result.link_radius:.4g}"))
    return rows


def _scan_rows(scan, name: str) -> list[tuple[str, str]]:
    md = scan.metadata
    lo, hi = scan.bounds()
    return [
        ("Name", name),
        ("File", md.source or "made in memory"),
        ("Format", md.format or "–"),
        (
            "Points",
            f"{len(scan):,}" + (f" ({md.dropped_nonfinite:,} non-finite dropped)" if md.dropped_nonfinite else ""),
        ),
        ("Size", " × ".join(f"{v:.4g}" for v in hi - lo)),
    ]


def capture_report(window) -> ReportContent:
    """Everything the report shows about the scan on show.

    Raises
    ------
    ConfigError
        If no scan is open.
    """
    s = window.state
    scan = s.active_scan()
    if scan is None:
        raise ConfigError("no scan is open: open one before exporting a report")
    entry = s.entry(s.active_key)
    views = views_image(window)
    height, width = views.shape[:2]
    shown_width = int(min(_VIEW_WIDTH_PX, _VIEW_HEIGHT_PX * width / height))
    below = "; below, turned to the top region" if top_region_centre(window) is not None else ""
    images = [
        ReportImage(
            f"Left: {field_text(s.field)}; right: {field_text(s.second_field)} "
            f"(same camera, colour scales anchored to the thresholds). Above, the whole part{below}",
            _png(views),
            shown_width,
        )
    ]
    if window.threshold_dock.plot.has_data():
        images.append(
            ReportImage(
                f"Histogram of {field_text(s.field)} with the threshold (red line)",
                _widget_png(window.threshold_dock.plot),
                320,
            )
        )
    curvature = []
    for name in curvature_fields(scan):
        scale = s.scale(name)
        lo, hi = scale.clim
        values = field_values(scan, name)
        curvature.append(
            (
                field_text(name),
                f"threshold {scale.threshold:.4g}, colour range {lo:.4g} to {hi:.4g}, "
                f"{100 * float((values >= scale.threshold).mean()):.2f} % of points above",
            )
        )
    verdict = window.inspection.record(s.active_key)
    return ReportContent(
        title=entry.name,
        created=utc_now(),
        verdict="" if verdict is None else verdict.text,
        scan=_scan_rows(scan, entry.name),
        colouring=_colouring_rows(window),
        curvature=curvature,
        model=model_rows(window.scorer),
        metrics=metric_rows(scan),
        region_header=REGION_COLUMNS,
        regions=region_rows(list(window.inspection.listed_regions(s.active_key, s.field)), scan.metadata.offset),
        annotation_header=ANNOTATION_COLUMNS,
        annotations=annotation_rows(window.inspection.annotations(s.active_key)),
        images=images,
    )
