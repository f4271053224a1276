"""casl_core: scans, multi-scale curvature, anomaly scoring and evaluation for CASL Inspector."""

__version__ = "0.1.0"
