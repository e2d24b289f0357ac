"""Fine-tuning the recogniser on the lines people corrected: the training worker and its parts.

    python -m ml.training PROJECT RUN_ID        # what `proofdesk worker train PROJECT --run N` runs

Modules: ``params`` (defaults), ``data`` (crops, batches, backbone features), ``model`` (the
graph split after its backbone), ``worker`` (the run: JSON lines on stdout, the records in the
project). Importing this package is cheap; torch is imported by ``model`` and ``worker``.
"""

from __future__ import annotations

from ml.training.params import DEFAULTS, resolve_params

__all__ = ["DEFAULTS", "resolve_params"]
