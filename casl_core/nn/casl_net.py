"""The CASL network: masked coordinate encoder, curvature prompts, fusion decoder, point heads."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import torch
from numpy.typing import ArrayLike
from torch import Tensor, nn

from casl_core.errors import ConfigError
from casl_core.nn.config import CaslConfig
from casl_core.nn.sparse import SparseTensor
from casl_core.nn.unet import CoordinateEncoder, CurvatureEncoder, FusionDecoder
from casl_core.nn.voxelize import devoxelize, voxelize

NUM_CLASSES = 2


def _as_float_tensor(values: ArrayLike | Tensor, what: str, index: int) -> Tensor:
    tensor = values if isinstance(values, Tensor) else torch.from_numpy(np.asarray(values, dtype=np.float32))
    if tensor.ndim != 2:
        raise ConfigError(f"scan {index}: {what} must be a 2-D array, got shape {tuple(tensor.shape)}")
    return tensor.to(torch.float32)


@dataclass(frozen=True, eq=False)
class CaslBatch:
    """Several normalised scans voxelised together, ready for :class:`CaslNet`.

    Attributes
    ----------
    voxels:
        Stride-1 sparse tensor; features are each voxel's mean curvature ``(M, C)``.
    inverse_index:
        ``(P,)`` voxel row of every point, scans concatenated in order.
    points:
        ``(P, 3)`` normalised point coordinates (the reconstruction target).
    curvature:
        ``(P, C)`` per-point curvature.
    scan_sizes:
        Number of points of each scan.
    """

    voxels: SparseTensor
    inverse_index: Tensor
    points: Tensor
    curvature: Tensor
    scan_sizes: tuple[int, ...]

    @classmethod
    def from_scans(
        cls,
        points_list: Sequence[ArrayLike | Tensor],
        curv_list: Sequence[ArrayLike | Tensor],
        voxel_size: float = 0.03,
        device: str | torch.device | None = None,
    ) -> CaslBatch:
        """Voxelise normalised scans.

        Parameters
        ----------
        points_list:
            One ``(N_b, 3)`` array per scan, already normalised (see ``normalize_points``).
        curv_list:
            One ``(N_b, C)`` curvature array per scan, same C for all.
        voxel_size:
            Voxel edge in normalised units.
        device:
            Where the batch lives (default: CPU).

        Raises
        ------
        ConfigError
            On mismatched lengths or shapes, empty or non-finite scans.
        """
        if len(points_list) != len(curv_list):
            raise ConfigError(f"{len(points_list)} point arrays but {len(curv_list)} curvature arrays")
        target = torch.device(device) if device is not None else torch.device("cpu")
        points = [_as_float_tensor(p, "points", i).to(target) for i, p in enumerate(points_list)]
        curvature = [_as_float_tensor(c, "curvature", i).to(target) for i, c in enumerate(curv_list)]
        for i, c in enumerate(curvature):
            if not bool(torch.isfinite(c).all()):
                raise ConfigError(f"scan {i}: curvature contains NaN or infinite values")
        voxels, inverse = voxelize(points, voxel_size, curvature)
        return cls(voxels, inverse, torch.cat(points), torch.cat(curvature), tuple(int(p.shape[0]) for p in points))

    @property
    def num_points(self) -> int:
        """Total number of points ``P``."""
        return int(self.points.shape[0])

    def split(self, per_point: Tensor) -> list[Tensor]:
        """Cut a ``(P, ...)`` per-point tensor into one piece per scan."""
        return list(torch.split(per_point, list(self.scan_sizes)))


class CaslOutput(NamedTuple):
    """Per-point outputs of :class:`CaslNet`, in input point order.

    Attributes
    ----------
    xyz:
        ``(P, 3)`` reconstructed normalised coordinates.
    logits:
        ``(P, 2)`` normal / anomalous logits.
    """

    xyz: Tensor
    logits: Tensor


def _point_head(in_channels: int, hidden: int, out_channels: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Linear(in_channels, hidden, bias=False),
        nn.BatchNorm1d(hidden),
        nn.ReLU(inplace=True),
        nn.Linear(hidden, out_channels),
    )


class CaslNet(nn.Module):
    """Curvature-augmented sparse U-Net (see :mod:`casl_core.nn.unet` for the level structure).

    Parameters
    ----------
    config:
        Widths and depths (see :func:`casl_core.nn.config.config_by_name`).
    """

    def __init__(self, config: CaslConfig) -> None:
        super().__init__()
        self.config = config
        self.coordinate_encoder = CoordinateEncoder(config)
        self.curvature_encoder = CurvatureEncoder(config)
        self.decoder = FusionDecoder(config)
        head_in = config.decoder_channels[-1] + config.curvature_channels
        self.xyz_head = _point_head(head_in, config.head_hidden, 3)
        self.class_head = _point_head(head_in, config.head_hidden, NUM_CLASSES)

    def _check(self, batch: CaslBatch) -> None:
        channels = batch.voxels.num_channels
        if channels != self.config.curvature_channels:
            raise ConfigError(
                f"model expects {self.config.curvature_channels} curvature channels, the batch has {channels}"
            )

    def encode_coordinates(self, batch: CaslBatch) -> SparseTensor:
        """Bottleneck features (stride 16) of the masked coordinate encoder."""
        return self.coordinate_encoder(batch.voxels)

    def encode_curvature(self, batch: CaslBatch) -> list[SparseTensor]:
        """Curvature prompts at strides 1, 2, 4 and 8."""
        self._check(batch)
        return self.curvature_encoder(batch.voxels)

    def point_features(self, batch: CaslBatch) -> Tensor:
        """``(P, C_dec + C_in)`` decoder features of each point's voxel next to its own curvature."""
        self._check(batch)
        decoded = self.decoder(self.encode_coordinates(batch), self.encode_curvature(batch))
        return torch.cat(
            [devoxelize(decoded.features, batch.inverse_index), batch.curvature.to(decoded.features.dtype)], dim=1
        )

    def forward(self, batch: CaslBatch) -> CaslOutput:
        """Per-point xyz reconstruction and class logits, in input point order.

        Raises
        ------
        ConfigError
            When the batch's curvature width differs from the config's.
        """
        features = self.point_features(batch)
        return CaslOutput(self.xyz_head(features), self.class_head(features))

    def parameter_count(self) -> int:
        """Number of learned parameters."""
        return sum(p.numel() for p in self.parameters())
