"""Training CASL: self-supervised pretraining, Norm-AS fine-tuning, checkpoints, resume, DDP.

>>> from casl_core.train import finetune, FinetuneOptions       # doctest: +SKIP
>>> result = finetune(["parts/train"], "model.safetensors", options=FinetuneOptions(epochs=5))  # doctest: +SKIP
"""

from casl_core.train.finetune import FinetuneOptions, finetune
from casl_core.train.loop import EpochRecord, TrainProgress, TrainResult
from casl_core.train.pretrain import PretrainOptions, pretrain

__all__ = ["EpochRecord", "FinetuneOptions", "PretrainOptions", "TrainProgress", "TrainResult", "finetune",
           "pretrain"]
