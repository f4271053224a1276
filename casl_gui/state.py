"""The application state: one plain Python object holding open scans, colouring, picks and modes.

Docks and the viewport read this object and listen to its events (:class:`~casl_gui.events.Event`,
connected like Qt signals); they change it only through its setters, which validate and then
emit, on the main thread. Nothing here imports Qt, touches widgets or VTK, so it is tested
without a display. How fields are drawn lives in :class:`~casl_gui.view_style.ViewStyle`.
"""

from __future__ import annotations

from dataclasses import dataclass

from casl_core.errors import ConfigError
from casl_core.scan import Scan
from casl_gui.colouring import (
    CASL_SCORE,
    ColourSpec,
    FieldScale,
    field_choices,
    is_scalar,
    preferred_field,
)
from casl_gui.events import Event
from casl_gui.view_style import ViewStyle


@dataclass(frozen=True)
class OpenScan:
    """A scan open in the window.

    Attributes
    ----------
    key:
        Identifier unique within the session (scans may share names).
    scan:
        The scan, with its curvature fields.
    name:
        What lists call it: the file name without suffix unless given.
    """

    key: int
    scan: Scan
    name: str

    @property
    def title(self) -> str:
        """Name and point count, for lists."""
        return f"{self.name} ({len(self.scan):,} points)"


class AppState:
    """Open scans, the active one, what colours it, the picked point and the view mode.

    Each event is a :class:`~casl_gui.events.Event`, connected like a Qt signal and emitted on
    the main thread only (emitting from another thread raises RuntimeError).

    Events
    ------
    scans_changed():
        A scan was opened or closed.
    active_changed():
        Another scan became active (the pick is cleared first).
    field_changed():
        The field of either view changed.
    style_changed():
        A colour scale, the colour map, the point size or the greying changed (the
        :attr:`style` object's ``changed`` event).
    pick_changed():
        The picked point changed (``picked_index`` may be None).
    compare_changed(bool):
        Compare mode was switched on or off.
    scan_updated(int):
        The scan with this key got new fields (curvature finished, a scorer ran).
    """

    def __init__(self) -> None:
        self.scans_changed = Event("scans_changed", thread_bound=True)
        self.active_changed = Event("active_changed", thread_bound=True)
        self.field_changed = Event("field_changed", thread_bound=True)
        self.pick_changed = Event("pick_changed", thread_bound=True)
        self.compare_changed = Event("compare_changed", thread_bound=True)
        self.scan_updated = Event("scan_updated", thread_bound=True)
        #: Colour scales, colour map, point size and greying, shared by all scans.
        self.style = ViewStyle()
        self.style_changed = self.style.changed
        self._scans: list[OpenScan] = []
        self._next_key = 1
        self._active: int | None = None
        self._field: str | None = None
        self._second_field: str | None = None
        self._picked: int | None = None
        self._compare = False
        self._chosen: str | None = None  # the field the person last chose
        self._second_chosen = False  # whether the person chose the right view's field
        self._chosen_here: str | None = None  # the (left) field the person chose for the active scan
        # fields of the scans not on show: (left, right, the left field the person chose for it)
        self._views: dict[int, tuple[str | None, str | None, str | None]] = {}

    # -- scans -------------------------------------------------------------------------

    @property
    def scans(self) -> tuple[OpenScan, ...]:
        """Open scans in the order they were opened."""
        return tuple(self._scans)

    def add_scan(self, scan: Scan, name: str | None = None, field: str | None = None) -> int:
        """Open a scan (called ``name``, else its file name), make it active and return its key.

        ``field`` (when the scan has it) colours it first, as if the person had chosen it for
        this scan; the other open scans keep their own fields, and so their regions and verdicts.
        """
        entry = OpenScan(self._next_key, scan, name or scan.name)
        self._next_key += 1
        self._scans.append(entry)
        self.scans_changed.emit()
        if field is not None and field in [c.key for c in field_choices(scan) if c.enabled]:
            self._views[entry.key] = (field, None, field)
        self.set_active(entry.key)
        return entry.key

    def replace_scan(self, key: int, scan: Scan) -> None:
        """Give an open scan new fields (same points); the view follows if it is on show.

        When the field on show was picked automatically (not by the person) and a better
        one arrived (curvature after the first frame coloured by height), it switches.

        Raises
        ------
        ConfigError
            If no scan has ``key`` or the point count differs.
        """
        pos = next((i for i, open_scan in enumerate(self._scans) if open_scan.key == key), None)
        if pos is None:
            raise ConfigError(f"no open scan has key {key}")
        entry = self._scans[pos]
        if len(scan) != len(entry.scan):
            raise ConfigError(f"{entry.name}: the new scan has {len(scan)} points, not {len(entry.scan)}")
        self._scans[pos] = OpenScan(key, scan, entry.name)
        if key == self._active:
            wanted = self._own_field(scan, self._chosen_here)
            if wanted != self._field:
                self._field = wanted
            self._second_field = self._second_choice(scan, self._second_field)
        self.scan_updated.emit(key)
        if key == self._active:
            self.field_changed.emit()

    def entry(self, key: int) -> OpenScan:
        """The open scan with ``key``; raises ConfigError if there is none."""
        for entry in self._scans:
            if entry.key == key:
                return entry
        raise ConfigError(f"no open scan has key {key}")

    def remove_scan(self, key: int) -> None:
        """Close a scan; the next one (or none) becomes active."""
        keys = [s.key for s in self._scans]
        if key not in keys:
            raise ConfigError(f"no open scan has key {key}")
        pos = keys.index(key)
        del self._scans[pos]
        self._views.pop(key, None)
        self.scans_changed.emit()
        if self._active == key:
            nxt = self._scans[min(pos, len(self._scans) - 1)].key if self._scans else None
            self.set_active(nxt)

    @property
    def active_key(self) -> int | None:
        """Key of the active scan, None when no scan is open."""
        return self._active

    def active_scan(self) -> Scan | None:
        """The scan on show, or None."""
        for entry in self._scans:
            if entry.key == self._active:
                return entry.scan
        return None

    def set_active(self, key: int | None) -> None:
        """Show another scan, keeping the coloured field when it has it."""
        if key is not None and key not in [s.key for s in self._scans]:
            raise ConfigError(f"no open scan has key {key}")
        if key == self._active:
            return
        if self._active is not None and self._active in [s.key for s in self._scans]:
            self._views[self._active] = (self._field, self._second_field, self._chosen_here)
        self._active = key
        self._picked = None
        scan = self.active_scan()
        if scan is not None:
            remembered = self._views.pop(key, None) if key is not None else None
            if remembered is None:
                self._field = preferred_field(scan, self._chosen or self._field)
                self._chosen_here = None
            else:
                self._field = self._own_field(scan, remembered[2])
                self._chosen_here = remembered[2]
                self._second_field = remembered[1] or self._second_field
            self._second_field = self._second_choice(scan, self._second_field)
        self.active_changed.emit()
        self.pick_changed.emit()

    def _own_field(self, scan: Scan, chosen: str | None) -> str:
        """A scan's own field: the one the person chose for it (when it has it), else the best it has now."""
        return preferred_field(scan, chosen or self._chosen)

    def field_of(self, key: int) -> str | None:
        """The field colouring an open scan's (left) view, on show or not: each scan keeps its own,
        so opening or showing another scan changes neither its colouring nor its verdict.
        """
        if key == self._active:
            return self._field
        remembered = self._views.get(key)
        scan = self.entry(key).scan
        if remembered is None:
            return preferred_field(scan, self._chosen)
        return self._own_field(scan, remembered[2])

    # -- colouring ---------------------------------------------------------------------

    @property
    def field(self) -> str | None:
        """Choice key colouring the (left) view."""
        return self._field

    @property
    def second_field(self) -> str | None:
        """Choice key colouring the right view in compare mode."""
        return self._second_field

    def _second_choice(self, scan: Scan, current: str | None) -> str:
        enabled = [c.key for c in field_choices(scan) if c.enabled]
        if CASL_SCORE in enabled and not self._second_chosen:
            return CASL_SCORE
        if current in enabled:
            return current
        if CASL_SCORE in enabled:
            return CASL_SCORE
        others = [k for k in enabled if k != self._field]
        return others[-1] if others else preferred_field(scan, None)

    def _check_choice(self, key: str) -> None:
        scan = self.active_scan()
        if scan is None:
            raise ConfigError("no scan is open")
        for choice in field_choices(scan):
            if choice.key == key:
                if not choice.enabled:
                    raise ConfigError(f"{scan.name}: cannot colour by {choice.text}: {choice.reason}")
                return
        raise ConfigError(f"{scan.name}: no field {key!r}")

    def set_field(self, key: str) -> None:
        """Colour the (left) view by ``key``; raises ConfigError if the scan lacks it."""
        self._check_choice(key)
        self._chosen = key
        self._chosen_here = key
        if key != self._field:
            self._field = key
            self.field_changed.emit()

    def set_second_field(self, key: str) -> None:
        """Colour the right view of compare mode by ``key``."""
        self._check_choice(key)
        self._second_chosen = True
        if key != self._second_field:
            self._second_field = key
            self.field_changed.emit()

    def scale(self, key: str) -> FieldScale:
        """The colour scale of a field, shared by all scans; made from the active scan on first use.

        Height has no shared default: until set, it spans the active scan's own heights.
        """
        return self.style.scale(key, self.active_scan())

    def colour_spec(self, scan: Scan, key: str, title_suffix: str = "") -> ColourSpec:
        """What the viewport needs to colour ``scan`` by ``key`` with this state's scales and map.

        Raises
        ------
        ConfigError
            If the scan lacks the field.
        """
        return self.style.colour_spec(scan, key, self.active_scan(), title_suffix)

    def set_scale(self, key: str, scale: FieldScale) -> None:
        """Change a field's colour scale (every scan and view coloured by it follows)."""
        self.style.set_scale(key, scale)

    def threshold(self) -> float | None:
        """Threshold of the (left) field when it is a scalar, else None."""
        key = self._field
        if not is_scalar(key) or self.active_scan() is None:
            return None
        return self.scale(key).threshold

    def set_threshold(self, value: float) -> None:
        """Move the (left) field's threshold, keeping its colour range width.

        Raises
        ------
        ConfigError
            If the field has no threshold or ``value`` is not finite.
        """
        key = self._field
        if not is_scalar(key) or self.active_scan() is None:
            raise ConfigError("the field on show has no threshold")
        self.set_scale(key, FieldScale(float(value), self.scale(key).half_width))

    @property
    def grey_below(self) -> bool:
        """Whether points below the threshold are drawn grey."""
        return self.style.grey_below

    def set_grey_below(self, on: bool) -> None:
        """Grey out (or not) the points below the threshold."""
        self.style.set_grey_below(on)

    @property
    def cmap(self) -> str:
        """Colour map of scalar fields."""
        return self.style.cmap

    def set_cmap(self, name: str) -> None:
        """Change the colour map; raises ConfigError for an unknown name."""
        self.style.set_cmap(name)

    @property
    def point_size(self) -> float:
        """Drawn point size in pixels."""
        return self.style.point_size

    def set_point_size(self, size: float) -> None:
        """Change the point size (0.5 to 30 pixels); raises ConfigError outside that range."""
        self.style.set_point_size(size)

    # -- picking and modes -------------------------------------------------------------

    @property
    def picked_index(self) -> int | None:
        """Index of the picked point in the active scan, or None."""
        return self._picked

    def set_pick(self, index: int | None) -> None:
        """Pick a point of the active scan (None clears the pick)."""
        scan = self.active_scan()
        if index is not None and (scan is None or not 0 <= index < len(scan)):
            size = 0 if scan is None else len(scan)
            raise ConfigError(f"picked index {index} is outside the scan's {size} points")
        if index != self._picked:
            self._picked = index
            self.pick_changed.emit()

    @property
    def compare(self) -> bool:
        """Whether the viewport shows two linked views side by side."""
        return self._compare

    def set_compare(self, on: bool) -> None:
        """Switch compare mode."""
        if bool(on) != self._compare:
            self._compare = bool(on)
            self.compare_changed.emit(self._compare)
