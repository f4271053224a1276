"""GUI speed on a large cloud: file to first frame, recolouring, rotating, picking, stalls.

Run under a display: ``xvfb-run -a -s "-screen 0 1600x1200x24" .venv/bin/python
benchmarks/bench_gui.py [--points 1000000] [--repeats 5]``.

- File to first coloured frame: the main window opens a binary PLY of the cloud; the clock
  stops when the viewport has drawn it (coloured by height until curvature arrives).
- Main-thread stall probe: a 10 ms QTimer records the longest gap between its ticks while
  the curvature of that scan runs in the background (from the first frame until the
  curvature job hands its result back).
- Recolouring: in place (new scalars and lookup table on the existing actor) against
  re-adding the actor (the peer: what every recolour did before), alternating, medians.
- Rotating: frame time with the full cloud and with the subsample drawn while the camera
  moves, alternating, medians.
- Picking: ours against VTK's ``vtkPointPicker`` (the peer) on the same cloud, camera and
  clicks; the table says how often each found the front-most point.
- ``--finetune``: instead of all that, the longest main-thread stall (same 10 ms probe)
  while the fine-tune dialog trains CASL on demo-family parts (over the whole run, and after
  the first epoch: the first second or two load PyTorch's training modules on the worker),
  against the same probe with the window idle (the peer), plus the dialog's training speed.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

os.environ.setdefault("QT_API", "pyside6")

import numpy as np  # noqa: E402 - after QT_API is set, so that pyvistaqt picks PySide6


def _cloud(n: int, seed: int = 0):
    """A bumpy closed surface (points on a torus with noise) and two scalar fields."""
    from casl_core.scan import Scan

    rng = np.random.default_rng(seed)
    u, v = rng.random(n) * 2 * np.pi, rng.random(n) * 2 * np.pi
    r = 0.3 + 0.01 * np.sin(9 * u) * np.cos(7 * v)
    pts = np.c_[(1 + r * np.cos(v)) * np.cos(u), (1 + r * np.cos(v)) * np.sin(u), r * np.sin(v)]
    fields = {
        "curvature_s16": (0.05 * rng.random(n)).astype(np.float32),
        "curvature_s64": (0.1 * rng.random(n)).astype(np.float32),
    }
    return Scan(points=pts.astype(np.float32), fields=fields)


def _timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def _camera_distance(plotter, points: np.ndarray) -> np.ndarray:
    cam = plotter.camera
    position, focal = np.array(cam.position), np.array(cam.focal_point)
    forward = (focal - position) / np.linalg.norm(focal - position)
    return (points.astype(np.float64) - position) @ forward


def _front_depths(plotter, scan, clicks, radius: float) -> list[float | None]:
    """For each click, the camera distance of the nearest point drawn within ``radius``.

    Computed independently of casl_gui.picking, with VTK's own world-to-display transform.
    """
    ren = plotter.renderer
    sample = scan.points
    xy = np.empty((len(sample), 2))
    matrix = ren.GetActiveCamera().GetCompositeProjectionTransformMatrix(ren.GetTiledAspectRatio(), -1, 1)
    m = np.array([[matrix.GetElement(i, j) for j in range(4)] for i in range(4)])
    clip = sample.astype(np.float64) @ m[:, :3].T + m[:, 3]
    width, height = plotter.render_window.GetSize()
    xy[:, 0] = (clip[:, 0] / clip[:, 3] + 1) * width / 2
    xy[:, 1] = (clip[:, 1] / clip[:, 3] + 1) * height / 2
    depth = _camera_distance(plotter, sample)
    out = []
    for x, y in clicks:
        near = (xy[:, 0] - x) ** 2 + (xy[:, 1] - y) ** 2 <= radius**2
        out.append(float(depth[near].min()) if near.any() else None)
    return out


def _window_run(app, scan, tmp: str) -> tuple[float, float, float, float]:
    """Open the cloud as a file in the main window.

    Returns seconds to the first frame (the subsample), to the full cloud, the longest
    main-thread stall while curvature runs after that, and how long curvature took.
    """
    from PySide6.QtCore import QElapsedTimer, QSettings, QTimer

    from casl_core.io import write_scan
    from casl_core.scan import Scan
    from casl_gui.app import make_settings
    from casl_gui.main_window import MainWindow

    path = os.path.join(tmp, "cloud.ply")
    write_scan(Scan(points=scan.points), path)  # coordinates only: the window computes curvature
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, tmp)
    window = MainWindow(make_settings(), lambda title, message: print(f"error: {title}: {message}"))
    window.resize(1400, 900)
    window.show()
    app.processEvents()
    clock = QElapsedTimer()
    ticks: list[float] = []
    probe = QTimer()
    probe.setInterval(10)
    probe.timeout.connect(lambda: ticks.append(clock.elapsed() / 1000.0))
    marks: dict[str, float] = {}
    window.state.scan_updated.connect(lambda _key: marks.setdefault("curvature", clock.elapsed() / 1000.0))
    clock.start()
    window.open_paths([path])
    while window.viewport.shown_scan() is None:
        app.processEvents()
        time.sleep(0.001)
    marks["first"] = clock.elapsed() / 1000.0
    while window.viewport.drawing_subsample:
        app.processEvents()
        time.sleep(0.001)
    marks["full"] = clock.elapsed() / 1000.0
    probe.start()
    while "curvature" not in marks:
        app.processEvents()
        time.sleep(0.001)
    probe.stop()
    window.close()
    app.processEvents()
    inside = [t for t in ticks if t <= marks["curvature"]]
    gaps = np.diff([marks["full"], *inside]) if inside else np.array([marks["curvature"] - marks["full"]])
    return marks["first"], marks["full"], float(gaps.max()), marks["curvature"] - marks["full"]


def _rotate(plotter, view, repeats: int) -> tuple[list[float], list[float]]:
    """Frame times turning the camera with the full cloud and with the subsample, alternating."""
    full, lod = [], []
    for _ in range(repeats):
        for moving, out in ((False, full), (True, lod)):
            plotter.iren.interactor.InvokeEvent("StartInteractionEvent" if moving else "EndInteractionEvent")
            for _ in range(3):
                plotter.camera.azimuth += 3
                out.append(_timed(plotter.render))
    plotter.iren.interactor.InvokeEvent("EndInteractionEvent")
    return full, lod


def _probe_ticks(app, seconds: float | None, busy=None, mark=None) -> tuple[np.ndarray, float | None]:
    """Tick times of a 10 ms QTimer, for ``seconds`` or while ``busy()`` holds, and when ``mark()`` first held."""
    from PySide6.QtCore import QElapsedTimer, QTimer

    clock = QElapsedTimer()
    ticks: list[float] = [0.0]
    probe = QTimer()
    probe.setInterval(10)
    probe.timeout.connect(lambda: ticks.append(clock.elapsed() / 1000.0))
    marked = None
    clock.start()
    probe.start()
    while busy() if busy is not None else clock.elapsed() / 1000.0 < seconds:
        app.processEvents()
        if marked is None and mark is not None and mark():
            marked = clock.elapsed() / 1000.0
        time.sleep(0.001)
    probe.stop()
    return np.asarray(ticks), marked


def _longest_gap(ticks: np.ndarray, after: float = 0.0) -> float:
    kept = ticks[ticks >= after]
    return float(np.diff(kept).max()) if len(kept) > 1 else float("nan")


def _finetune_stalls(app, tmp: str, epochs: int) -> dict[str, float]:
    """Stalls while the fine-tune dialog trains (whole run, and after the first epoch), an idle
    window's stall over as long, the run's seconds and its steps."""
    from pathlib import Path

    from PySide6.QtCore import QSettings

    from casl_gui.app import make_settings
    from casl_gui.main_window import MainWindow
    from casl_gui.model_jobs import warm_up_training_imports, write_demo_parts

    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, tmp)
    window = MainWindow(make_settings(), lambda title, message: print(f"error: {title}: {message}"))
    window.show()
    warm_up_training_imports()  # as casl-gui does at start-up
    _probe_ticks(app, 3.0)  # the user looks at the window a few seconds before training
    dialog = window.casl.show_finetune()
    write_demo_parts(Path(tmp) / "normal", count=4, n_points=4000)
    dialog.folder_edit.setText(os.path.join(tmp, "normal"))
    dialog.epochs_spin.setValue(epochs)
    dialog.device_combo.setCurrentIndex(dialog.device_combo.findData("cpu"))
    app.processEvents()
    start = time.perf_counter()
    dialog.start()
    ticks, first_epoch = _probe_ticks(app, None, dialog.running, lambda: bool(dialog.plot.epoch_losses()))
    seconds = time.perf_counter() - start
    idle, _ = _probe_ticks(app, seconds)
    out = dict(
        run=_longest_gap(ticks),
        steady=_longest_gap(ticks, first_epoch or 0.0),
        idle=_longest_gap(idle),
        seconds=seconds,
        steps=dialog.plot.step_count(),
    )
    window.close()
    app.processEvents()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--skip-window", action="store_true", help="skip the file-to-frame and stall runs")
    parser.add_argument(
        "--finetune",
        type=int,
        metavar="EPOCHS",
        default=0,
        help="only measure the main-thread stall while the fine-tune dialog trains this many epochs",
    )
    args = parser.parse_args()

    import tempfile

    if args.finetune:
        from PySide6.QtWidgets import QApplication

        app = QApplication.instance() or QApplication([])
        with tempfile.TemporaryDirectory() as tmp:
            got = _finetune_stalls(app, tmp, args.finetune)
        print(
            f"fine-tune dialog, {args.finetune} epochs of 3 demo parts x 4,000 points on the CPU: "
            f"{got['seconds']:.1f} s, {got['steps']} steps"
        )
        print(
            f"longest main-thread stall: whole run {1000 * got['run']:.0f} ms; after the first epoch "
            f"{1000 * got['steady']:.0f} ms; idle window over as long (peer) {1000 * got['idle']:.0f} ms; "
            f"ratio after the first epoch {got['steady'] / got['idle']:.1f}"
        )
        return

    from PySide6.QtWidgets import QApplication
    from vtkmodules.vtkRenderingCore import vtkPointPicker

    from casl_gui.colouring import FieldScale, colour_spec
    from casl_gui.viewport import LOD_POINTS, LOD_SAMPLE, Viewport

    app = QApplication.instance() or QApplication([])
    scan = _cloud(args.points)
    if not args.skip_window:
        with tempfile.TemporaryDirectory() as tmp:
            first_file, full_file, stall, curvature = _window_run(app, scan, tmp)
    view = Viewport()
    view.resize(1000, 800)
    view.show()
    app.processEvents()
    spec16 = colour_spec(scan, "curvature_s16", FieldScale(0.025, 0.025), "viridis")
    spec64 = colour_spec(scan, "curvature_s64", FieldScale(0.05, 0.05), "viridis")
    first = _timed(lambda: view.show_scan(scan, [spec16], 3.0))
    while view.drawing_subsample:
        app.processEvents()
    in_place, re_add = [], []
    for i in range(args.repeats):
        spec = (spec64, spec16)[i % 2]
        in_place.append(_timed(lambda spec=spec: view.show_scan(scan, [spec], 3.0)))
        size = 3.0001 if i % 2 == 0 else 3.0  # another point size forces the actor to be re-added
        re_add.append(_timed(lambda spec=spec, size=size: view.show_scan(scan, [spec], size)))
    view.show_scan(scan, [spec16], 3.0)
    plotter = view.interaction_widget()
    frames, lod_frames = _rotate(plotter, view, args.repeats)

    rng = np.random.default_rng(1)
    width, height = plotter.render_window.GetSize()
    clicks = [
        (float(x), float(y))
        for x, y in rng.uniform([0.3 * width, 0.3 * height], [0.7 * width, 0.7 * height], (args.repeats * 4, 2))
    ]
    radius = 4.0
    truth = _front_depths(plotter, scan, clicks, radius)
    picker = vtkPointPicker()
    picker.SetTolerance(radius / np.hypot(width, height))
    ours_t, vtk_t, ours_ok, vtk_ok = [], [], 0, 0
    for (x, y), want in zip(clicks, truth):
        start = time.perf_counter()
        got_ours = view.pick_at(x, y)
        ours_t.append(time.perf_counter() - start)
        vtk_t.append(_timed(lambda x=x, y=y: picker.Pick(x, y, 0, plotter.renderer)))
        got_vtk = picker.GetPointId()
        if want is not None:
            ours_ok += _on_front(plotter, scan, got_ours, want)
            vtk_ok += _on_front(plotter, scan, got_vtk, want)
    n_valid = sum(t is not None for t in truth)
    view.shutdown()

    def ms(xs: list[float]) -> float:
        return 1000 * statistics.median(xs)

    print(f"points: {args.points:,}  window: {width}x{height}")
    if not args.skip_window:
        print(
            f"file to first coloured frame (main window, binary PLY): {1000 * first_file:.0f} ms; "
            f"full cloud drawn at {1000 * full_file:.0f} ms"
        )
        print(f"longest main-thread stall while curvature runs ({curvature:.1f} s): {1000 * stall:.0f} ms")
    print(f"first frame in a bare viewport (PolyData + colour + render): {1000 * first:.0f} ms")
    print(
        f"recolour in place: median {ms(in_place):.0f} ms; re-adding the actor (peer): median {ms(re_add):.0f} ms; "
        f"ratio {statistics.median(in_place) / statistics.median(re_add):.2f}"
    )
    print(
        f"frame while rotating: full cloud median {ms(frames):.1f} ms; subsample of "
        f"{LOD_SAMPLE if args.points > LOD_POINTS else args.points:,} points "
        f"median {ms(lod_frames):.1f} ms"
    )
    print(f"pick (casl_gui.picking): median {ms(ours_t):.1f} ms, front surface hit {ours_ok}/{n_valid}")
    print(f"pick (vtkPointPicker, peer): median {ms(vtk_t):.1f} ms, front surface hit {vtk_ok}/{n_valid}")
    print(f"pick time ratio ours / vtkPointPicker: {statistics.median(ours_t) / statistics.median(vtk_t):.2f}")


def _on_front(plotter, scan, got: int | None, front_depth: float, tol: float = 0.05) -> int:
    """1 when the picked point lies on the visible surface (within ``tol`` of the front depth)."""
    if got is None or got < 0:
        return 0
    return int(_camera_distance(plotter, scan.points[[got]])[0] <= front_depth + tol)


if __name__ == "__main__":
    main()
