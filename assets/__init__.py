"""Bundled resources of CASL Inspector: icons, the default model checkpoint, demo settings."""
