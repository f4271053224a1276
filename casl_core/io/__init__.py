"""Scan files: one reader and writer per format, chosen from the suffix and first bytes.

>>> from casl_core.io import read_scan, write_scan
>>> scan = read_scan("part.pcd")                     # doctest: +SKIP
>>> write_scan(scan.with_fields(score=s), "out.ply") # doctest: +SKIP
"""

from casl_core.io.dispatch import READ_SUFFIXES, WRITE_SUFFIXES, read_scan, sniff, write_scan

__all__ = ["READ_SUFFIXES", "WRITE_SUFFIXES", "read_scan", "write_scan", "sniff"]
