"""The procedural part kinds and the synthetic defect kinds, in a module light enough for
the command line's help.

:mod:`casl_core.synth.parts` and :mod:`casl_core.synth.defects` make them; ``casl parts``
and ``casl synth`` list them as choices, and building that parser must not import the
generators (and SciPy) on every ``casl`` call.
"""

from __future__ import annotations

import enum

#: The procedural part families (:func:`casl_core.synth.parts.make_part`).
PART_KINDS = ("hex_nut", "flange", "stepped_shaft", "l_bracket")


class DefectKind(enum.StrEnum):
    """The kinds of synthetic defect."""

    BULGE = "bulge"
    CONCAVITY = "concavity"
    CRACK = "crack"
    HOLE = "hole"
    BROKEN_EDGE = "broken_edge"
    SCRATCH = "scratch"
