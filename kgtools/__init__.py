"""kgtools: ontology → knowledge graph → corpus → instructions → MoE fine-tune → evaluation.

Importing the package does nothing but define names: logging, threads and progress bars are the caller's
(see ``kgtools.cli``).
"""

from __future__ import annotations

__version__ = "0.5.0"
