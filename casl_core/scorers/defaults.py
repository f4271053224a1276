"""Scorer defaults the command line shows without importing torch."""

#: Poses a fine-tuned model scores each scan in and averages (test-time augmentation,
#: :func:`casl_core.scorers.casl.tta_poses`; 1 scores the scan as it is). Four poses lifted the
#: mean object / point AUROC and point AUPR on both categories measured (``docs/finetune.md``,
#: "Test-time augmentation"), for about twice the inference time of one pose. Here, not in the
#: CASL scorer module, so that the CLI builds its help without importing torch.
DEFAULT_TTA = 4
