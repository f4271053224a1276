"""casl_gui: the CASL Inspector desktop application (PySide6 + pyvistaqt)."""
