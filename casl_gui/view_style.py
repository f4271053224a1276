"""How fields are drawn, shared by every scan and view: colour scales, colour map, point size.

Plain Python with one :class:`~casl_gui.events.Event`; :class:`~casl_gui.state.AppState`
owns one and forwards its calls, so docks keep using the state's setters.
"""

from __future__ import annotations

from casl_core.errors import ConfigError
from casl_core.scan import Scan
from casl_gui.colouring import (
    AGREEMENT,
    BASELINE_SCORE,
    CASL_SCORE,
    COLOUR_MAPS,
    HEIGHT,
    ColourSpec,
    FieldScale,
    agreement_spec,
    colour_spec,
    default_scale,
    field_values,
    is_scalar,
)
from casl_gui.events import Event

#: The smallest and largest point size drawn, in pixels.
POINT_SIZE_RANGE = (0.5, 30.0)


class ViewStyle:
    """Colour scales per field, the colour map, the point size and greying below threshold.

    Events
    ------
    changed():
        A colour scale, the colour map, the point size or the greying changed.
    """

    def __init__(self) -> None:
        self._scales: dict[str, FieldScale] = {}
        self._cmap = COLOUR_MAPS[0]
        self._point_size = 3.0
        self._grey_below = False
        self.changed = Event("style_changed", thread_bound=True)

    def scale(self, key: str, scan: Scan | None) -> FieldScale:
        """The colour scale of a field, shared by all scans; made from ``scan``'s values on first use.

        Height has no shared default: until set, it spans ``scan``'s own heights.
        """
        if key == HEIGHT and key not in self._scales:
            return default_scale(key, None if scan is None else field_values(scan, key))
        if key not in self._scales:
            values = field_values(scan, key) if scan is not None else None
            self._scales[key] = default_scale(key, values)
        return self._scales[key]

    def set_scale(self, key: str, scale: FieldScale) -> None:
        """Change a field's colour scale (every scan and view coloured by it follows)."""
        if self._scales.get(key) != scale:
            self._scales[key] = scale
            self.changed.emit()

    def colour_spec(self, scan: Scan, key: str, active: Scan | None, title_suffix: str = "") -> ColourSpec:
        """What the viewport needs to colour ``scan`` by ``key``; ``active`` seeds scales made now.

        Raises
        ------
        ConfigError
            If the scan lacks the field.
        """
        if key == AGREEMENT:
            return agreement_spec(
                scan,
                self.scale(BASELINE_SCORE, active).threshold,
                self.scale(CASL_SCORE, active).threshold,
                title_suffix=title_suffix,
            )
        return colour_spec(
            scan,
            key,
            self.scale(key, active),
            self._cmap,
            title_suffix=title_suffix,
            grey_below=self._grey_below and is_scalar(key),
        )

    @property
    def grey_below(self) -> bool:
        """Whether points below the threshold are drawn grey."""
        return self._grey_below

    def set_grey_below(self, on: bool) -> None:
        """Grey out (or not) the points below the threshold."""
        if bool(on) != self._grey_below:
            self._grey_below = bool(on)
            self.changed.emit()

    @property
    def cmap(self) -> str:
        """Colour map of scalar fields."""
        return self._cmap

    def set_cmap(self, name: str) -> None:
        """Change the colour map; raises ConfigError for an unknown name."""
        if name not in COLOUR_MAPS:
            raise ConfigError(f"unknown colour map {name!r}; choose one of {', '.join(COLOUR_MAPS)}")
        if name != self._cmap:
            self._cmap = name
            self.changed.emit()

    @property
    def point_size(self) -> float:
        """Drawn point size in pixels."""
        return self._point_size

    def set_point_size(self, size: float) -> None:
        """Change the point size (0.5 to 30 pixels); raises ConfigError outside that range."""
        low, high = POINT_SIZE_RANGE
        if not low <= size <= high:
            raise ConfigError(f"point size must be between 0.5 and 30 pixels, got {size}")
        if size != self._point_size:
            self._point_size = float(size)
            self.changed.emit()
