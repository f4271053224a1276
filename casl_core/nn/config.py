"""Sizes of the CASL network: the frozen :class:`CaslConfig` and the named presets."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from casl_core.errors import ConfigError

LEVELS = 4


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
        for field in ("encoder_channels", "encoder_depths", "decoder_channels", "decoder_depths", "prompt_channels"):
            value = tuple(getattr(self, field))
            object.__setattr__(self, field, value)
            if len(value) != LEVELS:
                raise ConfigError(f"{field} must have {LEVELS} entries, got {value}")
        widths = (
            self.curvature_channels,
            self.token_channels,
            self.stem_channels,
            self.head_hidden,
            *self.encoder_channels,
            *self.decoder_channels,
            *self.prompt_channels,
        )
        if min(widths) < 1:
            raise ConfigError(f"every width must be >= 1 in config {self.name!r}")
        if min(*self.encoder_depths, *self.decoder_depths) < 1 or self.prompt_depth < 0:
            raise ConfigError(f"stage depths must be >= 1 (prompt depth >= 0) in config {self.name!r}")
        if self.stem_kernel < 1 or self.stem_kernel % 2 == 0:
            raise ConfigError(f"stem kernel must be odd, got {self.stem_kernel}")
        if not self.voxel_size > 0:
            raise ConfigError(f"voxel size must be positive, got {self.voxel_size}")

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
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ConfigError(f"unknown CASL config keys: {unknown}")
        converted: dict[str, Any] = {k: tuple(v) if isinstance(v, list) else v for k, v in values.items()}
        try:
            return cls(**converted)
        except TypeError as exc:
            raise ConfigError(f"invalid CASL config: {exc}") from exc


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
