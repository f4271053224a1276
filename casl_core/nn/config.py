"""Sizes of the CASL network: the frozen :class:`CaslConfig` and the named presets."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from casl_core.errors import ConfigError

LEVELS = 4

#: Largest number of learned parameters a config may ask for (checked before any tensor is
#: built; the ``base`` preset has about 30 million).
MAX_PARAMETERS = 200_000_000
#: Allowed ranges of each integer setting: (smallest, largest).
RANGES: dict[str, tuple[int, int]] = {
    "curvature_channels": (1, 64),
    "token_channels": (1, 1024),
    "stem_channels": (1, 4096),
    "stem_kernel": (1, 9),
    "encoder_channels": (1, 4096),
    "encoder_depths": (1, 64),
    "decoder_channels": (1, 4096),
    "decoder_depths": (1, 64),
    "prompt_channels": (1, 4096),
    "prompt_depth": (0, 64),
    "head_hidden": (1, 4096),
}
MIN_VOXEL, MAX_VOXEL = 1e-4, 1.0


def _shown(value: object) -> str:
    text = repr(value) if isinstance(value, (bool, int, float, str)) or value is None else type(value).__name__
    return text if len(text) <= 40 else text[:37] + "..."


def _check_int(field: str, value: object, name: str) -> None:
    """Refuse ``value`` unless it is an int (not a bool) within ``RANGES[field]``."""
    if type(value) is not int:
        raise ConfigError(f"{field} must be a whole number in config {name!r}, got {_shown(value)}")
    low, high = RANGES[field]
    if not low <= value <= high:
        raise ConfigError(f"{field} must be in {low}..{high} in config {name!r}, got {_shown(value)}")


def _block(c_in: int, c_out: int) -> int:
    """Parameters of one residual block (two 3^3 convolutions, batch norms, projection)."""
    return 27 * c_in * c_out + 27 * c_out * c_out + 4 * c_out + (c_in * c_out + 2 * c_out if c_in != c_out else 0)


def _stage(c_in: int, c_out: int, depth: int) -> int:
    return (_block(c_in, c_out) + (depth - 1) * _block(c_out, c_out)) if depth else 0


def estimated_parameters(config: CaslConfig) -> int:
    """The learned parameter count of :class:`~casl_core.nn.casl_net.CaslNet` for ``config``.

    Computed from the widths alone (nothing is allocated), so an absurd config can be
    refused in microseconds. Agrees with ``CaslNet(config).parameter_count()``.
    """
    c = config
    total = c.token_channels + c.stem_kernel**3 * c.token_channels * c.stem_channels + 2 * c.stem_channels
    width = c.stem_channels
    for channels, depth in zip(c.encoder_channels, c.encoder_depths):
        total += 8 * width * width + 2 * width + _stage(width, channels, depth)
        width = channels
    first = c.prompt_channels[0]
    total += c.curvature_channels * first + first * first + 4 * first
    for c_in, c_out in zip(c.prompt_channels[:-1], c.prompt_channels[1:]):
        total += 8 * c_in * c_out + 2 * c_out + _stage(c_out, c_out, c.prompt_depth)
    for channels, depth, prompt in zip(c.decoder_channels, c.decoder_depths, reversed(c.prompt_channels)):
        total += 8 * width * channels + 2 * channels + _stage(channels + prompt, channels, depth)
        width = channels
    head_in = c.decoder_channels[-1] + c.curvature_channels
    for out in (3, 2):
        total += head_in * c.head_hidden + 2 * c.head_hidden + c.head_hidden * out + out
    return total


@dataclass(frozen=True)
class CaslConfig:
    """Widths and depths of :class:`casl_core.nn.casl_net.CaslNet`.

    Attributes
    ----------
    name:
        Preset name, recorded in checkpoints.
    curvature_channels:
        Curvature scales per point (``C_in``).
    token_channels:
        Width of the learned token every occupied voxel gets in the coordinate encoder.
    stem_channels, stem_kernel:
        Width and kernel edge of the coordinate encoder's first convolution (stride 1).
    encoder_channels, encoder_depths:
        Widths and residual-block counts of the four encoder stages, at strides 2, 4, 8, 16.
    decoder_channels, decoder_depths:
        Widths and residual-block counts of the four decoder stages, at strides 8, 4, 2, 1.
    prompt_channels:
        Widths of the curvature prompts at strides 1, 2, 4, 8.
    prompt_depth:
        Residual blocks after each stride-2 convolution of the curvature encoder (may be 0).
    head_hidden:
        Hidden width of the per-point heads.
    voxel_size:
        Voxel edge in normalised units (see :func:`casl_core.nn.preprocess.normalize_points`).
    """

    name: str = "base"
    curvature_channels: int = 3
    token_channels: int = 3
    stem_channels: int = 32
    stem_kernel: int = 5
    encoder_channels: tuple[int, int, int, int] = (32, 64, 128, 256)
    encoder_depths: tuple[int, int, int, int] = (2, 3, 4, 6)
    decoder_channels: tuple[int, int, int, int] = (256, 128, 96, 96)
    decoder_depths: tuple[int, int, int, int] = (2, 2, 2, 2)
    prompt_channels: tuple[int, int, int, int] = (32, 32, 64, 128)
    prompt_depth: int = 1
    head_hidden: int = 64
    voxel_size: float = 0.03

    def __post_init__(self) -> None:
        if not isinstance(self.name, str):
            raise ConfigError(f"config name must be a string, got {type(self.name).__name__}")
        for field in ("encoder_channels", "encoder_depths", "decoder_channels", "decoder_depths", "prompt_channels"):
            raw = getattr(self, field)
            if not isinstance(raw, (tuple, list)):
                raise ConfigError(f"{field} must be a list of {LEVELS} integers, got {_shown(raw)}")
            value = tuple(raw)
            object.__setattr__(self, field, value)
            if len(value) != LEVELS:
                raise ConfigError(f"{field} must have {LEVELS} entries, got {len(value)}")
        for field, values in self._integers().items():
            for value in values:
                _check_int(field, value, self.name)
        if not isinstance(self.voxel_size, (int, float)) or isinstance(self.voxel_size, bool):
            raise ConfigError(f"voxel_size must be a number, got {_shown(self.voxel_size)}")
        if not (MIN_VOXEL <= self.voxel_size <= MAX_VOXEL):
            raise ConfigError(f"voxel size must be in {MIN_VOXEL}..{MAX_VOXEL}, got {_shown(self.voxel_size)}")
        if self.stem_kernel % 2 == 0:
            raise ConfigError(f"stem kernel must be odd, got {self.stem_kernel}")
        count = estimated_parameters(self)
        if count > MAX_PARAMETERS:
            raise ConfigError(
                f"config {self.name!r} would have about {count:,} parameters, more than the "
                f"{MAX_PARAMETERS:,} allowed (widths, depths or stem kernel too large)"
            )

    def _integers(self) -> dict[str, tuple]:
        return {
            "curvature_channels": (self.curvature_channels,),
            "token_channels": (self.token_channels,),
            "stem_channels": (self.stem_channels,),
            "stem_kernel": (self.stem_kernel,),
            "encoder_channels": self.encoder_channels,
            "encoder_depths": self.encoder_depths,
            "decoder_channels": self.decoder_channels,
            "decoder_depths": self.decoder_depths,
            "prompt_channels": self.prompt_channels,
            "prompt_depth": (self.prompt_depth,),
            "head_hidden": (self.head_hidden,),
        }

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready values (tuples become lists)."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(self).items()}

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> CaslConfig:
        """Rebuild a config from :meth:`to_dict` output.

        Raises
        ------
        ConfigError
            On unknown keys or invalid values.
        """
        if not isinstance(values, dict):
            raise ConfigError(f"a CASL config must be an object, got {type(values).__name__}")
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ConfigError(f"unknown CASL config keys: {unknown}")
        converted: dict[str, Any] = {k: tuple(v) if isinstance(v, list) else v for k, v in values.items()}
        try:
            return cls(**converted)
        except TypeError as exc:
            raise ConfigError(f"invalid CASL config: {str(exc).splitlines()[0][:200]}") from None


BASE = CaslConfig()
SMALL = CaslConfig(
    name="small",
    stem_channels=16,
    stem_kernel=3,
    encoder_channels=(16, 32, 48, 64),
    encoder_depths=(1, 1, 1, 1),
    decoder_channels=(64, 48, 32, 32),
    decoder_depths=(1, 1, 1, 1),
    prompt_channels=(16, 16, 24, 32),
    prompt_depth=0,
    head_hidden=32,
)
PRESETS = (SMALL, BASE)


def config_by_name(name: str) -> CaslConfig:
    """The preset called ``name`` (``"small"`` or ``"base"``).

    Raises
    ------
    ConfigError
        For any other name.
    """
    for preset in PRESETS:
        if preset.name == name:
            return preset
    raise ConfigError(f"unknown CASL config {name!r}; choose one of {[p.name for p in PRESETS]}")
