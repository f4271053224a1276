"""Building blocks of the sparse U-Net: conv-BN-ReLU units and residual basic blocks."""

from __future__ import annotations

from torch import nn

from casl_core.nn.conv import SparseConv3d, SparseConvTranspose3d
from casl_core.nn.ops import SparseBatchNorm, SparseLinear, SparseReLU
from casl_core.nn.sparse import SparseTensor


class ConvBnReLU(nn.Sequential):
    """Sparse convolution (submanifold or strided), batch norm, ReLU.

    Parameters
    ----------
    in_channels, out_channels:
        Feature widths.
    kernel_size:
        Kernel edge length (equal to ``stride`` when ``stride > 1``).
    stride:
        1 (submanifold) or the downsampling factor.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 3, stride: int = 1) -> None:
        super().__init__(
            SparseConv3d(in_channels, out_channels, kernel_size, stride=stride),
            SparseBatchNorm(out_channels),
            SparseReLU(inplace=True),
        )


class UpBnReLU(nn.Sequential):
    """Transposed sparse convolution (kernel and stride ``factor``), batch norm, ReLU."""

    def __init__(self, in_channels: int, out_channels: int, factor: int = 2) -> None:
        super().__init__(
            SparseConvTranspose3d(in_channels, out_channels, factor, factor),
            SparseBatchNorm(out_channels),
            SparseReLU(inplace=True),
        )


class BasicBlock(nn.Module):
    """Residual block: two 3^3 submanifold convs with batch norm, plus a (projected) shortcut.

    ``out = relu(bn(conv(relu(bn(conv(x))))) + shortcut(x))``; the shortcut is a per-site
    linear map with batch norm when the widths differ, the identity otherwise.
    """

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.conv1 = SparseConv3d(in_channels, out_channels, 3)
        self.norm1 = SparseBatchNorm(out_channels)
        self.conv2 = SparseConv3d(out_channels, out_channels, 3)
        self.norm2 = SparseBatchNorm(out_channels)
        self.relu = SparseReLU(inplace=True)
        self.shortcut: nn.Module = (
            nn.Identity()
            if in_channels == out_channels
            else nn.Sequential(SparseLinear(in_channels, out_channels, bias=False), SparseBatchNorm(out_channels))
        )

    def forward(self, x: SparseTensor) -> SparseTensor:
        """Apply the block; sites and stride unchanged."""
        y = self.norm2(self.conv2(self.relu(self.norm1(self.conv1(x)))))
        skip = self.shortcut(x)
        # batch norm's backward reads its input, not its output, so the sum can go in place
        y.features.add_(skip.features)
        return self.relu(y)


def residual_stage(in_channels: int, out_channels: int, depth: int) -> nn.Sequential:
    """``depth`` basic blocks, the first changing the width from ``in_channels`` to ``out_channels``."""
    blocks = [BasicBlock(in_channels if i == 0 else out_channels, out_channels) for i in range(depth)]
    return nn.Sequential(*blocks)
