"""The model registry: every model version a project has, and which one pre-fill uses.

Each version belongs to a task: ``recognition`` (the OCR: recogniser, and its detector in
``det/``) or ``fields`` (the key-field model: ``fields.json`` + ``fields.npz``). Each task has
its own active version, promotions and rollbacks. Which folder a task reads (the active version,
else the shipped model) is answered in one place, ``ml.training.active.active_model``.

A model version is a folder (``model.onnx`` + ``model.json``) with the sha256 of its ONNX file,
its metrics, and the run that made it. The active version of a task is the last promotion or
rollback in ``model_promotions``: switching is one row, so it is atomic and the history of
what was active when stays. With no promotion at all, pre-fill uses the model shipped in
``resources/``.

Promoting and rolling back are for admins (where the project has an admin at all: a project of
one person lets that person do it).

A version's name becomes a folder name and its path is joined to the project root, and both may
come from someone else's copy of the project (``proofdesk models import``): :func:`register`
takes only a plain name (:data:`NAME_RE`, never a path) and a relative path that stays inside
the project. A model folder lists its own files: ``model.json`` holds ``files``, every other
file of the folder (``det/`` included) with its sha256, written when the training run exports it
(:func:`write_manifest`); :func:`verify_folder` holds a folder to that list, exactly (no file
more, none less, no link), before anything of it is copied into a project.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import stat
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from .errors import NotFoundError, ProofdeskError
from .store import Store, now

RECOGNITION = "recognition"
#: The key-field model (``ml.fields``): its own versions, promotions and rollbacks, beside the OCR's.
FIELDS = "fields"
TASKS = (RECOGNITION, FIELDS)
#: The file of a version's folder whose sha256 is the version's (``ModelVersion.sha256``), by task.
MAIN_FILE = {RECOGNITION: "model.onnx", FIELDS: "fields.npz"}


@dataclass(frozen=True)
class ModelVersion:
    id: int
    name: str
    task: str
    path: str
    sha256: str
    metrics: dict = field(default_factory=dict)
    run_id: int | None = None
    parent_id: int | None = None
    created_at: str = ""
    created_by: str = ""


#: A model version's name: one folder name, the same on every OS (no separator, no leading dot,
#: so never ``.`` or ``..``), short enough for any file system.
NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
#: The key of ``model.json`` that lists the folder's other files: ``{relative path: sha256}``.
MANIFEST_KEY = "files"
MODEL_JSON = "model.json"
#: A model.json is a few kB; one larger than this is not one (and is not read into memory).
MAX_MODEL_JSON = 16 << 20


def check_name(name: object) -> str:
    """``name`` if it is a plain model version name (:data:`NAME_RE`), else ProofdeskError."""
    if not isinstance(name, str) or not NAME_RE.fullmatch(name):
        raise ProofdeskError(f"model version name {str(name)[:80]!r} is not allowed: 1 to 64 letters, digits, "
                             "'.', '_' or '-', starting with a letter or a digit")
    return name


def check_path(path: object) -> str:
    """``path`` if it is a relative POSIX path whose every part is a plain name (so it cannot leave
    the folder it is joined to, whatever that folder holds), else ProofdeskError."""
    parts = path.split("/") if isinstance(path, str) else []
    if not parts or PurePosixPath(path).is_absolute() or "\\" in path or any(
            p in ("", ".", "..") or "\0" in p for p in parts):
        raise ProofdeskError(f"model version path {str(path)[:80]!r} is not a relative path inside the project")
    return path


def _sha256(path: Path) -> str:
    """sha256 of a regular file, opened without following a link (a link is refused)."""
    h = hashlib.sha256()
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    with os.fdopen(fd, "rb") as f:
        if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):
            raise ProofdeskError(f"{path} is not a plain file")
        while block := f.read(1 << 20):
            h.update(block)
    return h.hexdigest()


def _walk(folder: Path) -> tuple[set[str], set[str]]:
    """(files, sub-folders) under ``folder``, relative POSIX paths; a link or anything that is
    neither a plain file nor a folder raises ProofdeskError."""
    files: set[str] = set()
    dirs: set[str] = set()
    for top, subdirs, names in os.walk(folder, followlinks=False):
        for name in subdirs + names:
            path = Path(top) / name
            rel = path.relative_to(folder).as_posix()
            mode = os.lstat(path).st_mode
            if stat.S_ISLNK(mode):
                raise ProofdeskError(f"{path} is a symbolic link: a model folder holds plain files only")
            if stat.S_ISDIR(mode):
                dirs.add(rel)
            elif stat.S_ISREG(mode):
                files.add(rel)
            else:
                raise ProofdeskError(f"{path} is not a plain file: a model folder holds plain files only")
    return files, dirs


def file_manifest(folder: str | Path) -> dict[str, str]:
    """``{relative path: sha256}`` of every file in ``folder`` but its own ``model.json``."""
    folder = Path(folder)
    files, _ = _walk(folder)
    return {rel: _sha256(folder / rel) for rel in sorted(files - {MODEL_JSON})}


def write_manifest(folder: str | Path) -> dict[str, str]:
    """List the folder's files with their sha256 in its ``model.json`` (the last thing written to a
    model folder before it is registered). Returns the list."""
    folder = Path(folder)
    files = file_manifest(folder)
    doc = json.loads((folder / MODEL_JSON).read_text(encoding="utf-8"))
    doc[MANIFEST_KEY] = files
    tmp = folder / (MODEL_JSON + ".tmp")
    tmp.write_text(json.dumps(doc, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    os.replace(tmp, folder / MODEL_JSON)
    return files


def verify_folder(folder: str | Path) -> dict[str, str]:
    """Check that ``folder`` holds exactly the files its ``model.json`` lists, each with its sha256,
    and nothing else (no other file, no empty folder, no link). Returns the list; raises
    ProofdeskError naming the first thing that differs."""
    folder = Path(folder)
    if folder.is_symlink() or not folder.is_dir():
        raise ProofdeskError(f"{folder} is not a model folder (a folder, not a link)")
    meta = folder / MODEL_JSON
    try:
        st = os.lstat(meta)
        if not stat.S_ISREG(st.st_mode) or st.st_size > MAX_MODEL_JSON:
            raise ValueError("not a plain file of a sensible size")
        listed = json.loads(meta.read_text(encoding="utf-8")).get(MANIFEST_KEY)
    except (OSError, ValueError, AttributeError) as exc:
        raise ProofdeskError(f"{meta} cannot be read ({exc})") from None
    if not isinstance(listed, dict) or not all(
            isinstance(k, str) and isinstance(v, str) and re.fullmatch(r"[0-9a-f]{64}", v) for k, v in listed.items()):
        raise ProofdeskError(f"{meta} does not list the folder's files with their sha256 (exported by an older "
                             "Proofdesk, or not by Proofdesk at all)")
    files, dirs = _walk(folder)
    extra = sorted(files - {MODEL_JSON} - set(listed))
    if extra:
        raise ProofdeskError(f"{folder / extra[0]} is not one of the files its model.json lists")
    missing = sorted(set(listed) - files)
    if missing:
        raise ProofdeskError(f"{folder / missing[0]} is missing: its model.json lists it")
    needed = {p.as_posix() for rel in listed for p in PurePosixPath(rel).parents if p.as_posix() != "."}
    if dirs - needed:
        raise ProofdeskError(f"{folder / sorted(dirs - needed)[0]} is not a folder its model.json lists files in")
    for rel, sha in sorted(listed.items()):
        if _sha256(folder / rel) != sha:
            raise ProofdeskError(f"{folder / rel} does not match the sha256 its model.json lists")
    return dict(listed)


def copy_folder(src: str | Path, dest: str | Path, listed: dict[str, str]) -> None:
    """Copy the model folder ``src`` (checked by :func:`verify_folder`, which gave ``listed``) to
    the new folder ``dest``: ``model.json`` and the listed files, each hashed again as it is read
    (a file changed since the check is refused, not copied). Raises ProofdeskError; the caller
    removes ``dest``."""
    src, dest = Path(src), Path(dest)
    dest.mkdir()
    for rel in [MODEL_JSON, *sorted(listed)]:
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        h = hashlib.sha256()
        fd = os.open(src / rel, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
        with os.fdopen(fd, "rb") as f, open(target, "xb") as out:
            if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):
                raise ProofdeskError(f"{src / rel} is not a plain file")
            while block := f.read(1 << 20):
                h.update(block)
                out.write(block)
        if rel in listed and h.hexdigest() != listed[rel]:
            raise ProofdeskError(f"{src / rel} changed while it was copied: it no longer matches its sha256")


def _row(r) -> ModelVersion:
    return ModelVersion(r["id"], r["name"], r["task"], r["path"], r["sha256"], json.loads(r["metrics"]),
                        r["run_id"], r["parent_id"], r["created_at"], r["created_by"])


def register(store: Store, user: str, name: str, task: str, path: str, sha256: str, metrics: dict | None = None,
             run_id: int | None = None, parent_id: int | None = None) -> ModelVersion:
    check_name(name)
    check_path(path)
    version_id = store.insert_model_version(name, task, path, sha256, json.dumps(metrics or {}), run_id, parent_id,
                                            now(), user)
    return get(store, version_id)


def get(store: Store, version_id: int) -> ModelVersion:
    row = store.model_version_row(version_id)
    if row is None:
        raise NotFoundError(f"no model version {version_id}")
    return _row(row)


def find(store: Store, ref: str, task: str = RECOGNITION) -> ModelVersion:
    """A version by id, by name, or ``latest`` (the newest of the task)."""
    if ref == "latest":
        row = store.latest_model_version_row(task)
    elif ref.isdigit():
        row = store.model_version_row(int(ref))
    else:
        row = store.model_version_row_named(ref)
    if row is None:
        raise NotFoundError(f"no model version {ref!r}")
    return _row(row)


def versions(store: Store, task: str | None = None) -> list[ModelVersion]:
    return [_row(r) for r in store.model_version_rows(task)]


def of_run(store: Store, run_id: int, task: str | None = None) -> list[ModelVersion]:
    """The model versions run ``run_id`` made (of ``task``), oldest first: a run that trained the
    OCR and the fields made one of each."""
    return [v for v in versions(store, task) if v.run_id == run_id]


def active(store: Store, task: str = RECOGNITION) -> ModelVersion | None:
    """The version pre-fill uses now; None means the shipped model."""
    row = store.active_model_version_row(task)
    return _row(row) if row is not None else None


def history(store: Store, task: str = RECOGNITION) -> list[dict]:
    return [dict(r) for r in store.promotion_rows(task)]


def _require_admin(store: Store, user: str) -> None:
    store.require_admin(user)


def promote(store: Store, user: str, version: ModelVersion, kind: str = "promote") -> None:
    """Make ``version`` the one pre-fill uses (one row: atomic)."""
    _require_admin(store, user)
    store.add_promotion(version.id, version.task, kind, now(), user)


def rollback(store: Store, user: str, version: ModelVersion | None = None, task: str = RECOGNITION) -> ModelVersion | None:
    """Back to ``version`` (in its own task), or to the one of ``task`` that was active before the current one."""
    if version is None:
        ids = store.promoted_version_ids(task)
        current = ids[0] if ids else None
        earlier = [i for i in ids[1:] if i != current]
        if not earlier:
            raise NotFoundError("no earlier model version to roll back to")
        version = get(store, earlier[0])
    promote(store, user, version, kind="rollback")
    return version
