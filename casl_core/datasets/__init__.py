"""Read-only data-set layouts: Real3D-AD, Anomaly-ShapeNet, MVTec 3D-AD and a plain folder.

``open_dataset(root)`` detects the layout and lists categories; each category lists its
normal training files and its :class:`TestSample` objects, whose ``load()`` returns the
points the published protocol scores with their ground-truth labels.
"""

from casl_core.datasets.detect import LAYOUTS, detect_layout, open_dataset
from casl_core.datasets.types import Category, Dataset, TestSample

__all__ = ["LAYOUTS", "Category", "Dataset", "TestSample", "detect_layout", "open_dataset"]
