"""Dock widgets of the main window (histogram, scale plot, regions ...)."""
