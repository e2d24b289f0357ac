"""A project is a folder: ``proofdesk.db`` plus content-addressed ``pages/``.

>>> import tempfile, pathlib
>>> p = Project.create(pathlib.Path(tempfile.mkdtemp()) / "demo")
>>> p.store.count_pages()
0
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

from .errors import ProjectError
from .store import Store

DB_NAME = "proofdesk.db"
SUBDIRS = ("pages", "models", "runs", "exports")


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class ImageStore:
    """Page images by sha256, written once (atomically) and never changed."""

    def __init__(self, root: Path):
        self.root = root

    def path(self, sha: str, ext: str | None = None) -> Path:
        """Where the image with this hash lives (``ext`` is found on disk when not given)."""
        folder = self.root / sha[:2]
        if ext is not None:
            return folder / f"{sha}.{ext}"
        for candidate in folder.glob(f"{sha}.*"):
            return candidate
        raise FileNotFoundError(f"page image {sha} is missing from {folder}")

    def put(self, data: bytes, ext: str) -> str:
        """Store encoded image bytes; return their sha256. A second put of the same bytes is free."""
        sha = sha256_bytes(data)
        target = self.path(sha, ext)
        if target.exists():
            return sha
        target.parent.mkdir(parents=True, exist_ok=True)
        # Write to a temp file and rename, so a crash never leaves half an image under the
        # final name.
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return sha


class Project:
    def __init__(self, root: Path, store: Store):
        self.root = root
        self.store = store
        self.images = ImageStore(root / "pages")

    @property
    def name(self) -> str:
        return self.root.name

    @classmethod
    def create(cls, root: str | os.PathLike, fields: list[str] | None = None) -> "Project":
        """Make a new project folder (it may exist but must not already be a project)."""
        root = Path(root).expanduser().resolve()
        if (root / DB_NAME).exists():
            raise ProjectError(f"{root} is already a Proofdesk project")
        if root.exists() and not root.is_dir():
            raise ProjectError(f"{root} exists and is not a folder")
        try:
            root.mkdir(parents=True, exist_ok=True)
            for sub in SUBDIRS:
                (root / sub).mkdir(exist_ok=True)
        except OSError as exc:
            raise ProjectError(f"cannot create project folder {root}: {exc.strerror}") from exc
        store = Store(root / DB_NAME)
        if fields is None:
            fields = ["company", "date", "address", "total"]
        store.set_fields(fields)
        return cls(root, store)

    @classmethod
    def open(cls, root: str | os.PathLike) -> "Project":
        """Open an existing project, migrating its database when it is older than this code."""
        root = Path(root).expanduser().resolve()
        db = root / DB_NAME
        if not root.is_dir():
            raise ProjectError(f"no such project folder: {root}")
        if not db.exists():
            raise ProjectError(f"{root} is not a Proofdesk project (no {DB_NAME}); run `proofdesk init` first")
        for sub in SUBDIRS:
            (root / sub).mkdir(exist_ok=True)
        return cls(root, Store(db))

    @classmethod
    def open_or_create(cls, root: str | os.PathLike) -> "Project":
        root = Path(root).expanduser()
        if (root / DB_NAME).exists():
            return cls.open(root)
        return cls.create(root)

    def image_path(self, page) -> Path:
        return self.images.path(page.image_sha256)

    def close(self) -> None:
        self.store.close()
