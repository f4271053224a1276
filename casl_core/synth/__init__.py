"""Data anyone can regenerate from a seed: procedural parts, synthesised defects, whole test sets."""
