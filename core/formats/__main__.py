"""``python -m core.formats > docs/formats.md``: every format's mapping, from its module's docstring."""

import sys

from .base import documentation

sys.stdout.write(documentation())
