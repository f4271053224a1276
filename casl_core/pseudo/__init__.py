"""Pseudo-anomalies made from normal scans for fine-tuning: Norm-AS patches and missing patches."""
