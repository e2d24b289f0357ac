"""The model registry: every model version a project has, and which one pre-fill uses.

A model version is a folder (``model.onnx`` + ``model.json``) with the sha256 of its ONNX file,
its metrics, and the run that made it. The active version of a task is the last promotion or
rollback in ``model_promotions``: switching is one row, so it is atomic and the history of
what was active when stays. With no promotion at all, pre-fill uses the model shipped in
``resources/``.

Promoting and rolling back are for admins (where the project has an admin at all: a project of
one person lets that person do it).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from .errors import NotFoundError
from .model import Role
from .roles import require
from .store import Store, now

RECOGNITION = "recognition"


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


def _row(r) -> ModelVersion:
    return ModelVersion(r["id"], r["name"], r["task"], r["path"], r["sha256"], json.loads(r["metrics"]),
                        r["run_id"], r["parent_id"], r["created_at"], r["created_by"])


def register(store: Store, user: str, name: str, task: str, path: str, sha256: str, metrics: dict | None = None,
             run_id: int | None = None, parent_id: int | None = None) -> ModelVersion:
    with store.transaction() as c:
        cur = c.execute(
            "INSERT INTO model_versions (name, task, path, sha256, metrics, run_id, parent_id, created_at, created_by)"
            " VALUES (?,?,?,?,?,?,?,?,?)",
            (name, task, path, sha256, json.dumps(metrics or {}), run_id, parent_id, now(), user),
        )
        version_id = cur.lastrowid
    return get(store, version_id)


def get(store: Store, version_id: int) -> ModelVersion:
    rows = store.query("SELECT * FROM model_versions WHERE id = ?", (version_id,))
    if not rows:
        raise NotFoundError(f"no model version {version_id}")
    return _row(rows[0])


def find(store: Store, ref: str, task: str = RECOGNITION) -> ModelVersion:
    """A version by id, by name, or ``latest`` (the newest of the task)."""
    if ref == "latest":
        rows = store.query("SELECT * FROM model_versions WHERE task = ? ORDER BY id DESC LIMIT 1", (task,))
    elif ref.isdigit():
        rows = store.query("SELECT * FROM model_versions WHERE id = ?", (int(ref),))
    else:
        rows = store.query("SELECT * FROM model_versions WHERE name = ?", (ref,))
    if not rows:
        raise NotFoundError(f"no model version {ref!r}")
    return _row(rows[0])


def versions(store: Store, task: str | None = None) -> list[ModelVersion]:
    if task is None:
        return [_row(r) for r in store.query("SELECT * FROM model_versions ORDER BY id")]
    return [_row(r) for r in store.query("SELECT * FROM model_versions WHERE task = ? ORDER BY id", (task,))]


def active(store: Store, task: str = RECOGNITION) -> ModelVersion | None:
    """The version pre-fill uses now; None means the shipped model."""
    rows = store.query(
        "SELECT v.* FROM model_promotions p JOIN model_versions v ON v.id = p.model_version_id"
        " WHERE p.task = ? ORDER BY p.id DESC LIMIT 1",
        (task,),
    )
    return _row(rows[0]) if rows else None


def history(store: Store, task: str = RECOGNITION) -> list[dict]:
    return [dict(r) for r in store.query(
        "SELECT p.id, p.kind, p.at, p.by, v.id AS version_id, v.name FROM model_promotions p"
        " JOIN model_versions v ON v.id = p.model_version_id WHERE p.task = ? ORDER BY p.id", (task,))]


def _require_admin(store: Store, user: str) -> None:
    if store.query("SELECT 1 FROM users WHERE role = 'admin' LIMIT 1"):
        actor = store.get_user(user)
        require(actor.role if actor else Role.ANNOTATOR, "admin")


def promote(store: Store, user: str, version: ModelVersion, kind: str = "promote") -> None:
    """Make ``version`` the one pre-fill uses (one row: atomic)."""
    _require_admin(store, user)
    with store.transaction() as c:
        c.execute("INSERT INTO model_promotions (model_version_id, task, kind, at, by) VALUES (?,?,?,?,?)",
                  (version.id, version.task, kind, now(), user))


def rollback(store: Store, user: str, version: ModelVersion | None = None, task: str = RECOGNITION) -> ModelVersion | None:
    """Back to ``version``, or to the one that was active before the current one."""
    if version is None:
        rows = store.query("SELECT model_version_id FROM model_promotions WHERE task = ? ORDER BY id DESC", (task,))
        current = rows[0]["model_version_id"] if rows else None
        earlier = [r["model_version_id"] for r in rows[1:] if r["model_version_id"] != current]
        if not earlier:
            raise NotFoundError("no earlier model version to roll back to")
        version = get(store, earlier[0])
    promote(store, user, version, kind="rollback")
    return version
