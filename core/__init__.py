"""Proofdesk core: the domain model, the SQLite store, import/export and scoring.

No Qt, no torch: everything here runs headless.
"""

__version__ = "0.1.0"
