"""The three parts of the CASL U-Net: coordinate encoder, curvature encoder, fusion decoder.

Level structure (``base`` widths; strides in finest-voxel units)::

    coordinate encoder (input: one learned token per occupied voxel)
      stem   5^3 conv  token -> 32                      stride 1
      down 2^3/2 32 -> 32,  2 blocks -> 32              stride 2
      down 2^3/2 32 -> 32,  3 blocks -> 64              stride 4
      down 2^3/2 64 -> 64,  4 blocks -> 128             stride 8
      down 2^3/2 128 -> 128, 6 blocks -> 256            stride 16   (bottleneck)

    curvature encoder (input: mean multi-scale curvature per voxel)
      MLP  C_in -> 32                                   prompt P1, stride 1
      2^3/2 conv 32 -> 32 (+ blocks)                    prompt P2, stride 2
      2^3/2 conv 32 -> 64 (+ blocks)                    prompt P4, stride 4
      2^3/2 conv 64 -> 128 (+ blocks)                   prompt P8, stride 8

    fusion decoder
      up 2^3/2 256 -> 256, cat P8 (128), 2 blocks -> 256   stride 8
      up 2^3/2 256 -> 128, cat P4 (64),  2 blocks -> 128   stride 4
      up 2^3/2 128 -> 96,  cat P2 (32),  2 blocks -> 96    stride 2
      up 2^3/2 96 -> 96,   cat P1 (32),  2 blocks -> 96    stride 1

This is MinkUNet34C with each same-level encoder skip replaced by the curvature prompt of the
same stride and width. Both encoders downsample the same stride-1 sites with the same rule,
so their coordinates at each stride are identical and share cached kernel maps.
"""

from __future__ import annotations

from typing import cast

import torch
from torch import nn

from casl_core.nn.blocks import ConvBnReLU, UpBnReLU, residual_stage
from casl_core.nn.config import CaslConfig
from casl_core.nn.conv import SparseConv3d
from casl_core.nn.ops import SparseBatchNorm, SparseLinear, SparseReLU, cat_features
from casl_core.nn.sparse import SparseTensor


class CoordinateEncoder(nn.Module):
    """Encoder that sees only occupancy: every occupied voxel carries the same learned token."""

    def __init__(self, config: CaslConfig) -> None:
        super().__init__()
        self.token = nn.Parameter(torch.randn(1, config.token_channels))
        self.stem = ConvBnReLU(config.token_channels, config.stem_channels, config.stem_kernel)
        stages = []
        width = config.stem_channels
        for channels, depth in zip(config.encoder_channels, config.encoder_depths):
            stages.append(nn.Sequential(ConvBnReLU(width, width, 2, stride=2), residual_stage(width, channels, depth)))
            width = channels
        self.stages = nn.ModuleList(stages)

    def forward(self, voxels: SparseTensor) -> SparseTensor:
        """Bottleneck features at stride 16 from the occupied sites of ``voxels`` (features ignored)."""
        conv, norm, relu = cast(SparseConv3d, self.stem[0]), self.stem[1], self.stem[2]
        # every site carries the same token, so the stem is one small product (same result)
        x = relu(norm(conv.forward_uniform(voxels, self.token.to(voxels.features.dtype))))
        for stage in self.stages:
            x = stage(x)
        return x


class CurvatureEncoder(nn.Module):
    """Per-voxel curvature to prompts at strides 1, 2, 4 and 8."""

    def __init__(self, config: CaslConfig) -> None:
        super().__init__()
        first = config.prompt_channels[0]
        self.mlp = nn.Sequential(
            SparseLinear(config.curvature_channels, first, bias=False),
            SparseBatchNorm(first),
            SparseReLU(inplace=True),
            SparseLinear(first, first, bias=False),
            SparseBatchNorm(first),
            SparseReLU(inplace=True),
        )
        self.downs = nn.ModuleList(
            nn.Sequential(ConvBnReLU(c_in, c_out, 2, stride=2), residual_stage(c_out, c_out, config.prompt_depth))
            for c_in, c_out in zip(config.prompt_channels[:-1], config.prompt_channels[1:])
        )

    def forward(self, voxels: SparseTensor) -> list[SparseTensor]:
        """Prompts ``[P1, P2, P4, P8]`` from ``voxels.features`` (mean curvature per voxel)."""
        prompts = [self.mlp(voxels)]
        for down in self.downs:
            prompts.append(down(prompts[-1]))
        return prompts


class FusionDecoder(nn.Module):
    """Upsample from the bottleneck, fusing the curvature prompt of each stride."""

    def __init__(self, config: CaslConfig) -> None:
        super().__init__()
        width = config.encoder_channels[-1]
        ups, stages = [], []
        prompts = tuple(reversed(config.prompt_channels))
        for channels, depth, prompt in zip(config.decoder_channels, config.decoder_depths, prompts):
            ups.append(UpBnReLU(width, channels))
            stages.append(residual_stage(channels + prompt, channels, depth))
            width = channels
        self.ups = nn.ModuleList(ups)
        self.stages = nn.ModuleList(stages)

    def forward(self, bottleneck: SparseTensor, prompts: list[SparseTensor]) -> SparseTensor:
        """Decoder features at stride 1 from the bottleneck and ``[P1, P2, P4, P8]``."""
        x = bottleneck
        for up, stage, prompt in zip(self.ups, self.stages, reversed(prompts)):
            x = stage(cat_features(up(x), prompt))
        return x
