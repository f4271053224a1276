"""The actors the viewport draws a cloud with: colour lookup tables, scalar bars, marks."""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import pyvista as pv

from casl_gui.colouring import ColourSpec

_GREY = (104, 108, 116, 255)


class Marks(NamedTuple):
    """Points to mark over the cloud in every view (a selection, annotations).

    Attributes
    ----------
    name:
        Identifies the layer (a later call with the same name replaces it).
    indices:
        Indices of the marked points in the shown scan.
    colour:
        Colour of the marks (a hex string).
    """

    name: str
    indices: np.ndarray
    colour: str


@dataclass
class Layer:
    """The actors drawing the cloud in one view: the full cloud and, for big clouds, its subsample."""

    kind: str
    title: str
    values: np.ndarray
    actor: object
    lod: object | None


def lookup_table(spec: ColourSpec) -> pv.LookupTable:
    """The 256-entry lookup table of a scalar colouring (lower half grey with ``grey_below``,
    the entries inside ``grey_band`` grey for a diverging map's tolerance).
    """
    lut = pv.LookupTable(spec.cmap, n_values=256)
    lut.scalar_range = spec.clim
    if spec.grey_below or spec.grey_band is not None:
        values = np.array(lut.values)
        if spec.grey_below:
            values[:128] = _GREY
        if spec.grey_band is not None:
            lo, hi = spec.clim
            centres = lo + (np.arange(256) + 0.5) / 256.0 * (hi - lo)
            values[(centres >= spec.grey_band[0]) & (centres <= spec.grey_band[1])] = _GREY
        lut.values = values
    return lut


def bar_args(spec: ColourSpec) -> dict:
    """Scalar-bar settings: horizontal, bottom centre, titled by the spec (a legend for categories)."""
    # VTK draws a horizontal bar's title over its tick labels; an empty second line lifts it clear.
    return dict(
        title=spec.title + "\n",
        color="white",
        vertical=False,
        width=0.5,
        height=0.08,
        position_x=0.25,
        position_y=0.07,
        title_font_size=15,
        label_font_size=13,
        fmt="%.3g",
        n_labels=0 if spec.kind == "labels" else 3,
    )


def add_cloud_actor(
    plotter, cloud: pv.PolyData, values: np.ndarray, spec: ColourSpec, name: str, point_size: float, full: bool
):
    """Add ``cloud`` coloured by ``values`` as ``spec`` says to the plotter's current view.

    ``full`` is the pickable cloud with the scalar bar; the subsample drawn while the
    camera moves has neither (and slightly bigger points, to fill the gaps).
    """
    array = "rgb" if spec.kind == "rgb" else "values"
    cloud.point_data[array] = values
    options = dict(
        style="points",
        point_size=point_size + (0.0 if full else 1.0),
        render_points_as_spheres=False,
        name=name,
        reset_camera=False,
        lighting=False,
        pickable=full,
        render=False,
    )
    if spec.kind == "rgb":
        return plotter.add_mesh(cloud, scalars=array, rgb=True, show_scalar_bar=False, **options)
    if spec.kind == "labels":
        return plotter.add_mesh(
            cloud,
            scalars=array,
            cmap=spec.cmap,
            clim=spec.clim,
            n_colors=len(spec.cmap),
            annotations=dict(enumerate(spec.categories)),
            show_scalar_bar=full,
            scalar_bar_args=bar_args(spec),
            **options,
        )
    return plotter.add_mesh(
        cloud,
        scalars=array,
        cmap=lookup_table(spec),
        clim=spec.clim,
        show_scalar_bar=full,
        scalar_bar_args=bar_args(spec),
        **options,
    )


def _replace_values(actor, values: np.ndarray) -> None:
    """Swap the ``values`` array of the cloud an actor draws, where the mapper reads it.

    pyvista puts a filter between the cloud and the mapper (it selects the active scalars),
    so the array must change in the filter's input, not in ``mapper.dataset`` (a copy).
    """
    from vtkmodules.util.numpy_support import numpy_to_vtk

    upstream = actor.mapper.GetInputAlgorithm()
    source = upstream.GetInputDataObject(0, 0) if upstream.GetNumberOfInputPorts() else None
    data = source if source is not None else actor.mapper.GetInputDataObject(0, 0)
    array = numpy_to_vtk(np.ascontiguousarray(values, dtype=np.float32), deep=True)
    array.SetName("values")
    data.GetPointData().AddArray(array)
    data.GetPointData().SetActiveScalars("values")
    data.Modified()


def recolour_layer(plotter, layer: Layer, spec: ColourSpec, lod_index: np.ndarray | None) -> None:
    """Give a scalar layer (in the plotter's current view) new values, lookup table and bar, in place."""
    lut = lookup_table(spec)
    for actor, values in ((layer.actor, spec.values), (layer.lod, None)):
        if actor is None:
            continue
        if spec.values is not layer.values:
            data = values if values is not None else spec.values[lod_index]
            _replace_values(actor, np.asarray(data))
        actor.mapper.lookup_table = lut
        actor.mapper.scalar_range = spec.clim
    plotter.remove_scalar_bar(layer.title + "\n", render=False)
    plotter.add_scalar_bar(mapper=layer.actor.mapper, **bar_args(spec))
    layer.values, layer.title = spec.values, spec.title


def draw_marks(plotter, points: np.ndarray, marks: list[Marks], point_size: float) -> None:
    """Draw each set of marked points, in its colour, over the cloud in every view."""
    for mark in marks:
        cloud = pv.PolyData(points[mark.indices])
        for col in range(len(plotter.renderers)):
            plotter.subplot(0, col)
            plotter.add_mesh(
                cloud,
                color=mark.colour,
                point_size=point_size,
                style="points",
                render_points_as_spheres=False,
                pickable=False,
                name=f"marks-{mark.name}",
                reset_camera=False,
                lighting=False,
                render=False,
            )
