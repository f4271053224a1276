"""Feature-wise layers on sparse tensors: batch norm over active sites, activations, linear
maps, and concatenation of two tensors on the same sites.
"""

from __future__ import annotations

import torch
from torch import nn

from casl_core.errors import ConfigError
from casl_core.nn.sparse import SparseTensor


class SparseBatchNorm(nn.BatchNorm1d):
    """``nn.BatchNorm1d`` over the active sites' features (statistics over all sites of the batch)."""

    def forward(self, x: SparseTensor) -> SparseTensor:  # type: ignore[override]  # takes a SparseTensor, not the Tensor of the torch base class
        """Normalise ``x.features``; sites and stride unchanged."""
        return x.replace_features(super().forward(x.features))


class SparseReLU(nn.ReLU):
    """ReLU on the features of a sparse tensor."""

    def forward(self, x: SparseTensor) -> SparseTensor:  # type: ignore[override]  # takes a SparseTensor, not the Tensor of the torch base class
        """Apply ReLU to ``x.features``."""
        return x.replace_features(super().forward(x.features))


class SparseLinear(nn.Linear):
    """A per-site linear map (a 1x1x1 convolution with bias)."""

    def forward(self, x: SparseTensor) -> SparseTensor:  # type: ignore[override]  # takes a SparseTensor, not the Tensor of the torch base class
        """Apply the linear map to ``x.features``."""
        return x.replace_features(super().forward(x.features))


def cat_features(*tensors: SparseTensor) -> SparseTensor:
    """Concatenate the features of tensors that share sites (same manager and stride).

    Raises
    ------
    ConfigError
        When the tensors come from different batches or sit at different strides.
    """
    if not tensors:
        raise ConfigError("cat_features needs at least one sparse tensor")
    first = tensors[0]
    for other in tensors[1:]:
        if other.manager is not first.manager or other.stride != first.stride:
            raise ConfigError(
                f"cannot concatenate sparse tensors on different sites (strides "
                f"{first.stride} and {other.stride}, or different batches)"
            )
    return first.replace_features(torch.cat([t.features for t in tensors], dim=1))
