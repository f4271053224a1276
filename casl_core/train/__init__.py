"""Training CASL: self-supervised pretraining, Norm-AS fine-tuning, checkpoints, resume, DDP.

The entry points are :func:`casl_core.train.finetune.finetune` and
:func:`casl_core.train.pretrain.pretrain` (not re-exported here, so that the module names
keep naming the modules)::

    from casl_core.train.finetune import FinetuneOptions, finetune
    result = finetune(["parts/train"], "model.safetensors", options=FinetuneOptions(epochs=5))
"""

__all__ = ["EpochRecord", "TrainProgress", "TrainResult"]


def __getattr__(name: str):
    # Lazy, so that ``casl_core.train.options`` (and the CLI's help) does not import torch.
    if name in __all__:
        from casl_core.train import loop

        return getattr(loop, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
