"""Training CASL: self-supervised pretraining, Norm-AS fine-tuning, checkpoints, resume, DDP.

The entry points are :func:`casl_core.train.finetune.finetune` and
:func:`casl_core.train.pretrain.pretrain` (not re-exported here, so that the module names
keep naming the modules)::

    from casl_core.train.finetune import FinetuneOptions, finetune
    result = finetune(["parts/train"], "model.safetensors", options=FinetuneOptions(epochs=5))
"""

from casl_core.train.loop import EpochRecord, TrainProgress, TrainResult

__all__ = ["EpochRecord", "TrainProgress", "TrainResult"]
