"""Pure-PyTorch sparse voxel convolutions and the CASL network.

Sparse tensors and kernel maps: :mod:`casl_core.nn.sparse`, :mod:`casl_core.nn.kmap`;
convolutions: :mod:`casl_core.nn.conv` (arithmetic in :mod:`casl_core.nn.functional`);
feature-wise layers: :mod:`casl_core.nn.ops`; points to voxels: :mod:`casl_core.nn.voxelize`;
blocks and the U-Net parts: :mod:`casl_core.nn.blocks`, :mod:`casl_core.nn.unet`; the network,
its batch and configs: :mod:`casl_core.nn.casl_net`, :mod:`casl_core.nn.config`; point
normalisation: :mod:`casl_core.nn.preprocess`.
"""

from casl_core.nn.casl_net import CaslBatch, CaslNet, CaslOutput
from casl_core.nn.config import CaslConfig, config_by_name
from casl_core.nn.conv import SparseConv3d, SparseConvTranspose3d
from casl_core.nn.preprocess import PointTransform, normalize_points
from casl_core.nn.sparse import CoordinateManager, SparseTensor
from casl_core.nn.voxelize import devoxelize, voxelize

__all__ = [
    "CaslBatch",
    "CaslConfig",
    "CaslNet",
    "CaslOutput",
    "CoordinateManager",
    "PointTransform",
    "SparseConv3d",
    "SparseConvTranspose3d",
    "SparseTensor",
    "config_by_name",
    "devoxelize",
    "normalize_points",
    "voxelize",
]
