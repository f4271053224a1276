"""Files shipped in the ``casl_assets`` package (the top-level ``assets/`` folder).

``default_small.safetensors``
    The pretrained ``small`` CASL model, the starting point of ``casl finetune``:
    ``casl parts --out parts --count 8 --points 15000 --seed 0`` then
    ``casl pretrain --data parts --out default_small.safetensors --config small --epochs 40 --seed 0``.
``demo_flange.safetensors``
    That model fine-tuned on the demo part family's flanges, which scores the built-in demo:
    ``casl parts --out flanges --kinds flange --count 8 --points 15000 --seed 100`` then
    ``casl finetune --train flanges/flange --out demo_flange.safetensors --seed 0``.
"""

from __future__ import annotations

import os
from pathlib import Path

PRETRAINED = "default_small.safetensors"
DEMO_MODEL = "demo_flange.safetensors"


def bundled_file(name: str) -> Path | None:
    """Path of a file shipped in ``casl_assets``, or ``None`` when it is absent."""
    try:
        from importlib.resources import files

        candidate = files("casl_assets").joinpath(name)
    except (ModuleNotFoundError, TypeError):
        return None
    path = Path(os.fspath(candidate)) if isinstance(candidate, os.PathLike) else None
    return path if path is not None and path.is_file() else None
