"""Proofdesk core: the domain model, the SQLite store, import/export and scoring.

No Qt, no torch: everything here runs headless.
"""


def _version() -> str:
    """The version, from one source: ``pyproject.toml``. Installed (pip, editable, or frozen with
    its metadata) it comes from the package metadata; a bare source tree reads pyproject itself."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("proofdesk")
    except PackageNotFoundError:
        import re
        from pathlib import Path

        pyproject = Path(__file__).resolve().parent.parent / "pyproject.toml"
        try:
            match = re.search(r'^version\s*=\s*"([^"]+)"', pyproject.read_text(encoding="utf-8"), re.M)
        except OSError:
            match = None
        return match.group(1) if match else "0+unknown"


__version__ = _version()
