"""The annotation workspace: page canvas, region list, keys, queue, loading ahead.

See docs/workspace.md for the keys and the design.
"""

from .workspace import Workspace

__all__ = ["Workspace"]
