"""A project is a folder: ``proofdesk.db`` plus content-addressed ``pages/``.

Page images are written once, under their sha256, through a temporary name (``.tmp-*``) and a
rename; an importer stages a document's images in ``pages/.tmp-import-*/`` and moves them into
place only in the transaction that writes the document's rows. A process killed mid-way leaves
such temporary files, and a training run killed before its model was registered leaves a
``models/run-N/`` folder: :func:`clean_leftovers` removes them when a project is opened, once
they are old enough that no live process can still be writing them.

>>> import tempfile, pathlib
>>> p = Project.create(pathlib.Path(tempfile.mkdtemp()) / "demo")
>>> p.store.count_pages()
0
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import shutil
import tempfile
import time
from pathlib import Path

from .db import ServerLocation, database_errors, is_url, parse_url
from .errors import ProjectError
from .store import Store
from .store import now as store_now

DB_NAME = "proofdesk.db"
SUBDIRS = ("pages", "models", "runs", "exports")
TMP_PREFIX = ".tmp-"
#: Leftovers younger than this are left alone: another process (an import, a training worker)
#: may be writing them right now. Files carry no lock we could test portably, and an hour is far
#: beyond the life of a temp image (milliseconds) or between two pages of an import (seconds).
LEFTOVER_AGE_S = 3600
#: The model folders Proofdesk writes: ``run-<id>`` by the training worker, ``run-<id>-<host>``
#: by ``models import``. Anything else under ``models/`` is someone's own and never touched.
RUN_FOLDER = re.compile(r"run-(\d+)(?:-.+)?")


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def write_atomically(target: Path, data: bytes) -> None:
    """Write ``data`` to ``target`` through a temporary name in its folder, fsynced, then renamed:
    a crash never leaves half a file under the final name."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=TMP_PREFIX)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


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
        write_atomically(target, data)
        return sha

    def staging(self) -> "StagedImages":
        """A private folder for one document's images until its rows are written."""
        return StagedImages(self)


class StagedImages:
    """One document's page images, written as they are rendered, published all at once.

    Pages go to ``pages/.tmp-import-*/`` (fsynced, so they are on disk before the rows that
    name them); :meth:`publish` renames them to their content-addressed place, called inside the
    transaction that writes the document, just before its commit. Dropping a cancelled or
    failed document is then removing this folder: it never touches an image in ``pages/``,
    which another document (a blank page is the same bytes everywhere) may share.
    """

    def __init__(self, images: ImageStore):
        self.images = images
        images.root.mkdir(parents=True, exist_ok=True)
        self.folder = Path(tempfile.mkdtemp(dir=images.root, prefix=f"{TMP_PREFIX}import-"))
        self.staged: dict[str, str] = {}  # sha -> ext

    def put(self, data: bytes, ext: str) -> str:
        sha = sha256_bytes(data)
        if sha in self.staged or self.images.path(sha, ext).exists():
            self.staged.setdefault(sha, ext)
            return sha
        with open(self.folder / f"{sha}.{ext}", "xb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        self.staged[sha] = ext
        return sha

    def publish(self) -> None:
        for sha, ext in self.staged.items():
            target = self.images.path(sha, ext)
            staged = self.folder / target.name
            if not staged.exists() or target.exists():
                # In pages/ already (from the start, or another import put it there since):
                # the same bytes, and replacing a file a reader has open fails on Windows.
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(staged, target)

    def discard(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)

    def __enter__(self) -> "StagedImages":
        return self

    def __exit__(self, *exc) -> None:
        self.discard()  # published files have left the folder; anything else goes


class ServerImageStore(ImageStore):
    """A team project's page images: kept in the server's ``blobs`` table by sha256, fetched on
    demand and cached on this machine under the same content-addressed names (a cached file is
    never stale: its name is its hash)."""

    def __init__(self, store: Store, cache: Path):
        super().__init__(cache)
        self.store = store

    def path(self, sha: str, ext: str | None = None) -> Path:
        if ext is not None:
            return super().path(sha, ext)
        try:
            return super().path(sha)
        except FileNotFoundError:
            pass
        found = self.store.get_blob(sha)
        if found is None:
            raise FileNotFoundError(f"page image {sha} is not on the server {self.store.where}")
        ext, data = found
        if sha256_bytes(data) != sha:
            raise FileNotFoundError(f"page image {sha} on the server is damaged (its bytes do not match its hash)")
        ImageStore.put(self, data, ext)
        return super().path(sha, ext)

    def put(self, data: bytes, ext: str) -> str:
        sha = ImageStore.put(self, data, ext)
        self.store.put_blob(sha, ext, data)
        return sha

    def staging(self) -> "StagedImages":
        return ServerStagedImages(self)


class ServerStagedImages(StagedImages):
    """Staged like a folder's images; :meth:`publish` (inside the document's transaction) also
    sends them to the server, so the rows and the images commit together."""

    def publish(self) -> None:
        for sha, ext in self.staged.items():
            staged = self.folder / f"{sha}.{ext}"
            data = staged.read_bytes() if staged.exists() else self.images.path(sha, ext).read_bytes()
            self.images.store.put_blob(sha, ext, data)
        super().publish()


def publish(store: Store, root: Path, rel: str) -> None:
    """See :meth:`Project.publish` (for code that has a store and its project folder)."""
    if store.server is None:
        return
    path = Path(root) / rel
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    with store.transaction():
        for f in files:
            store.put_file(f.relative_to(root).as_posix(), f.read_bytes())


def fetch(store: Store, root: Path, rel: str) -> Path:
    """See :meth:`Project.local`."""
    path = Path(root) / rel
    if store.server is None:
        return path
    for name, sha in store.files_under(rel):
        target = Path(root) / name
        if target.is_file() and sha256_file(target) == sha:
            continue
        found = store.get_blob(sha)
        if found is None or sha256_bytes(found[1]) != sha:
            raise ProjectError(f"{name} is missing or damaged on the server {store.where}")
        write_atomically(target, found[1])
    return path


#: Turned copies of page images (ADR 0008), ``<sha256>-<turn>.png``: derived from the stored
#: image, so they can be deleted any time and are made again when needed.
TURNED_DIR = Path("pages") / "turned"


def turned_image(path: Path, sha: str, turn: int, folder: Path) -> Path:
    """The image at ``path`` turned clockwise by ``turn`` degrees (90, 180, 270), as a lossless PNG
    in ``folder`` (written once, atomically; a folder that cannot be written, as in a project on a
    read-only disk, gives way to one in the system's temp folder). Pixels are turned exactly: no
    resampling, the same mode and depth."""
    from PIL import Image

    name = f"{sha}-{turn % 360}.png"
    for where in (folder, Path(tempfile.gettempdir()) / "proofdesk-turned"):
        target = where / name
        if target.is_file():
            return target
    with Image.open(path) as img:
        img.load()
        # PIL turns counter-clockwise: ROTATE_270 is a clockwise quarter turn.
        op = {90: Image.Transpose.ROTATE_270, 180: Image.Transpose.ROTATE_180, 270: Image.Transpose.ROTATE_90}
        turned = img.transpose(op[turn % 360])
    buf = io.BytesIO()
    turned.save(buf, format="PNG", compress_level=1)  # made often, kept as a cache: fast beats small
    for where in (folder, Path(tempfile.gettempdir()) / "proofdesk-turned"):
        try:
            write_atomically(where / name, buf.getvalue())
            return where / name
        except OSError:
            continue
    raise ProjectError(f"cannot write a turned copy of page image {sha}")


def sha256_file(path: Path) -> str:
    """sha256 of a file's bytes, read in blocks."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def data_dir() -> Path:
    """The app's own data folder (demo project, logs, the cache of team projects):
    ``$PROOFDESK_DATA_DIR``, else the platform's per-user data folder with ``Proofdesk`` in it
    (``$XDG_DATA_HOME/Proofdesk``, ``~/.local/share/Proofdesk`` on Linux). Not Qt's
    AppDataLocation, which adds the organisation (``Proofdesk/Proofdesk``): the GUI and the command
    line both ask here, so they agree."""
    import sys

    override = os.environ.get("PROOFDESK_DATA_DIR")
    if override:
        return Path(override)
    if sys.platform == "win32":
        base = Path(os.environ.get("LOCALAPPDATA") or Path.home() / "AppData" / "Local")
    elif sys.platform == "darwin":
        base = Path.home() / "Library" / "Application Support"
    else:
        base = Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")
    return base / "Proofdesk"


def server_cache(location: ServerLocation) -> Path:
    """This machine's folder for a team project: cached page images and model versions, exports."""
    host = re.sub(r"[^A-Za-z0-9._-]", "_", f"{location.host}-{location.port or 5432}")
    return data_dir() / "servers" / host / location.database / location.project


def _newest_change(path: Path, with_ctime: bool) -> float:
    """The latest modification (and with ``with_ctime`` status change) time in a file or tree."""
    newest = 0.0
    for p in [path, *(path.rglob("*") if path.is_dir() else ())]:
        try:
            st = p.lstat()
        except OSError:
            continue
        newest = max(newest, st.st_mtime, st.st_ctime if with_ctime else 0.0)
    return newest


def clean_leftovers(root: Path, store: Store, now: float | None = None, min_age_s: float = LEFTOVER_AGE_S) -> list[Path]:
    """Remove what killed processes left: temp page images and unregistered run model folders.

    Only what is at least ``min_age_s`` old (see :data:`LEFTOVER_AGE_S`) and, for model
    folders, only ``run-N`` folders that no model version or run record points to and whose run
    N is recorded and ended (a queued or running worker may export any moment; a run the
    database does not know may be one a restored backup forgot). Best effort: a leftover that
    cannot be removed stays, and opening the project goes on. Returns what was removed.
    """
    now = time.time() if now is None else now
    removed: list[Path] = []
    pages = root / "pages"
    candidates = [*pages.glob(f"{TMP_PREFIX}*"), *pages.glob(f"*/{TMP_PREFIX}*")]
    # Temp images are only ever written fresh, so their mtime is their age.
    removed += [p for p in candidates if now - _newest_change(p, with_ctime=False) >= min_age_s and _remove(p)]
    models = root / "models"
    # A model import killed half-way (models import, import-paddle) leaves its hidden staging folder.
    staging = [p for p in models.glob(".*.import") if p.is_dir() and not p.is_symlink()] if models.is_dir() else []
    removed += [p for p in staging if now - _newest_change(p, with_ctime=True) >= min_age_s and _remove(p)]
    try:
        registered = store.registered_model_paths()
        # Only a run this database knows and that ended (failed, cancelled, or done with its model
        # elsewhere) leaves a folder that is surely garbage. A run-N the database does not know is
        # kept: after a proofdesk.db restored from a backup, newer runs' folders hold trained
        # models that nothing else has.
        ended = store.ended_run_ids()
        folders = sorted(p for p in models.iterdir() if p.is_dir() and not p.is_symlink()) if models.is_dir() else []
    except (OSError, *database_errors()):
        return removed
    kept = set()
    for path in registered:
        p = Path(path) if Path(path).is_absolute() else root / path
        kept.update([p, *p.parents])  # a folder that holds a registered model holds a model
    for folder in folders:
        m = RUN_FOLDER.fullmatch(folder.name)
        if m is None or folder in kept or int(m.group(1)) not in ended:
            continue
        # ctime as well: `models import` copies a folder with its source's old mtimes before it
        # registers it, and a change time cannot be set backwards.
        if now - _newest_change(folder, with_ctime=True) >= min_age_s and _remove(folder):
            removed.append(folder)
    return removed


def _remove(path: Path) -> bool:
    try:
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink()
    except OSError:
        return False
    return True


class Project:
    def __init__(self, root: Path, store: Store):
        self.root = root
        self.store = store
        self.server = store.server
        self.images = ServerImageStore(store, root / "pages") if store.server else ImageStore(root / "pages")

    @property
    def name(self) -> str:
        return self.server.project if self.server else self.root.name

    @property
    def location(self) -> str | Path:
        """What opens this project again: its folder, or its URL (with the login it was opened with)."""
        return self.server.url if self.server else self.root

    @property
    def where(self) -> str:
        """The project as people name it: its folder, or its URL without a password."""
        return self.server.display if self.server else str(self.root)

    @classmethod
    def create(cls, root: str | os.PathLike, fields: list[str] | None = None) -> "Project":
        """Make a new project: a folder (it may exist but must not already be a project), or a
        project on a team server when ``root`` is a ``postgresql://`` URL."""
        if fields is None:
            fields = ["company", "date", "address", "total"]
        if is_url(root):
            location = parse_url(str(root), need_project=True)
            store = Store(location, create_schema=True)
            if store.get_setting("created_at"):
                store.close()
                raise ProjectError(f"{location.display} is already a Proofdesk project")
            store.set_setting("created_at", store_now())
            store.set_fields(fields)
            return cls._on_server(store)
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
        store.set_setting("created_at", store_now())
        store.set_fields(fields)
        return cls(root, store)

    @classmethod
    def _on_server(cls, store: Store) -> "Project":
        cache = server_cache(store.server)
        try:
            for sub in SUBDIRS:
                (cache / sub).mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            store.close()
            raise ProjectError(f"cannot create this machine's cache folder {cache}: {exc.strerror}") from exc
        return cls(cache, store)

    @classmethod
    def open(cls, root: str | os.PathLike, readonly: bool = False) -> "Project":
        """Open an existing project, migrating its database when it is older than this code.

        ``readonly``: for commands that only read; nothing in the folder is created or changed
        (see :class:`Store`).
        """
        if is_url(root):
            location = parse_url(str(root), need_project=True)
            return cls._on_server(Store(location, readonly=readonly))
        root = Path(root).expanduser().resolve()
        db = root / DB_NAME
        if not root.is_dir():
            raise ProjectError(f"no such project folder: {root}")
        if not db.exists():
            raise ProjectError(f"{root} is not a Proofdesk project (no {DB_NAME}); run `proofdesk init` first")
        if readonly:
            return cls(root, Store(db, readonly=True))
        for sub in SUBDIRS:
            (root / sub).mkdir(exist_ok=True)
        store = Store(db)
        clean_leftovers(root, store)
        return cls(root, store)

    @classmethod
    def open_or_create(cls, root: str | os.PathLike) -> "Project":
        if is_url(root):
            try:
                return cls.open(root)
            except ProjectError:
                return cls.create(root)
        root = Path(root).expanduser()
        if (root / DB_NAME).exists():
            return cls.open(root)
        return cls.create(root)

    def publish(self, rel: str) -> None:
        """A team project: send the file or folder ``rel`` of this machine's copy to the server (a
        model version, a dataset manifest), so every machine can :meth:`local` it. Nothing to do in
        a project folder."""
        publish(self.store, self.root, rel)

    def local(self, rel: str) -> Path:
        """``root / rel`` on this machine: on a team project the file or folder is fetched from the
        server first when this machine does not have it (or has other bytes under its name)."""
        return fetch(self.store, self.root, rel)

    def image_path(self, page) -> Path:
        """The page's image as shown: its stored image, or for a page turned by hand (ADR 0008) a
        turned copy, made once and kept by sha256 and turn (see :func:`turned_image`). Everything
        that reads a page (pre-fill, the workspace, crops, exports) reads this, so the points of
        its regions and the pixels they point at always agree."""
        path = self.images.path(page.image_sha256)
        turn = (getattr(page, "rotation", 0) or 0) % 360
        return turned_image(path, page.image_sha256, turn, self.root / TURNED_DIR) if turn else path

    def close(self) -> None:
        self.store.close()
