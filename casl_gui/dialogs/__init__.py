"""Dialogs of the main window (batch inference, fine-tuning, loss plot ...)."""
