"""Dataset versions: frozen, content-hashed manifests of line samples that training reads.

A sample is one region a person confirmed: the page image (by its sha256), the region's four
points and its text. Confirmed means the region is on a page a person marked done (or a
reviewer approved), not deleted, with text. With ``selection="approved"`` only reviewed pages
count; with a ``max_samples`` cap, samples of approved pages are taken first.

The train / validation split is by page and depends only on the page image's hash, never on
what else is selected: a page is in validation in every version or in none, so validation
figures of successive runs stay comparable and no page leaks between the two.

The manifest is a JSON file under ``datasets/`` named by its hash (written once); the
``dataset_versions`` row points at it. The same selection gives the same hash, and creating it
again returns the existing version.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass
from pathlib import Path

from .errors import NotFoundError, ProofdeskError
from .model import reframe
from .store import Store, now

SELECTIONS = ("done", "approved")
DEFAULT_VAL_SHARE = 0.2
DATASETS_DIR = "datasets"


@dataclass(frozen=True)
class Sample:
    image_sha256: str
    page_id: int
    points: tuple[tuple[float, float], ...]
    text: str
    label: str | None = None

    def key(self) -> tuple:
        """What identifies a sample across versions: the page and the box (not the text)."""
        return (self.image_sha256, tuple((round(x, 1), round(y, 1)) for x, y in self.points))

    def to_json(self) -> dict:
        return {"image": self.image_sha256, "page_id": self.page_id,
                "points": [[round(x, 2), round(y, 2)] for x, y in self.points], "text": self.text,
                "label": self.label}


@dataclass(frozen=True)
class DatasetVersion:
    id: int
    hash: str
    created_at: str
    created_by: str
    selection: dict
    n_train: int
    n_val: int
    n_pages: int
    manifest: str


def is_validation(image_sha256: str, val_share: float = DEFAULT_VAL_SHARE) -> bool:
    """The split: a fixed function of the page image, so stable across versions."""
    h = int(hashlib.sha256(f"split:{image_sha256}".encode()).hexdigest()[:12], 16)
    return h / float(1 << 48) < val_share


def select_samples(store: Store, selection: str = "done", max_samples: int | None = None) -> list[Sample]:
    if selection not in SELECTIONS:
        raise ProofdeskError(f"selection must be one of {', '.join(SELECTIONS)}, not {selection!r}")
    statuses = ("approved",) if selection == "approved" else ("done", "approved")
    # Regions with text ("###", ICDAR's and PaddleOCR's "don't care" mark, is none), approved pages first.
    rows = store.confirmed_region_rows(statuses)
    # A manifest names images by sha256: its points are on the stored image, so a page turned by
    # hand (ADR 0008) gives its regions turned back (corner order kept: crops still read upright).
    samples = [Sample(r["image_sha256"], r["page_id"],
                      tuple(tuple(p) for p in reframe(json.loads(r["points"]), r["rotation"] or 0, 0, r["width"],
                                                      r["height"])),
                      r["text"], r["label"]) for r in rows]
    if max_samples is not None:
        samples = samples[:max_samples]  # approved pages first (the ORDER BY)
    return samples


def manifest_of(samples: list[Sample], selection: dict, val_share: float) -> dict:
    ordered = sorted(samples, key=lambda s: (s.key(), s.text))
    train = [s.to_json() for s in ordered if not is_validation(s.image_sha256, val_share)]
    val = [s.to_json() for s in ordered if is_validation(s.image_sha256, val_share)]
    body = {"format": 1, "val_share": val_share, "train": train, "val": val}
    digest = hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode()).hexdigest()
    return {"hash": digest, "selection": selection, **body}


def create_version(store: Store, root: Path, user: str, selection: str = "done", val_share: float = DEFAULT_VAL_SHARE,
                   max_samples: int | None = None) -> tuple[DatasetVersion, bool]:
    """Freeze the current selection. Returns ``(version, created)``; ``created`` is False when an
    identical version already existed."""
    samples = select_samples(store, selection, max_samples)
    if not samples:
        raise ProofdeskError("no confirmed regions to train on: mark corrected pages done first")
    sel = {"selection": selection, "max_samples": max_samples, "val_share": val_share}
    manifest = manifest_of(samples, sel, val_share)
    existing = store.dataset_version_row_by_hash(manifest["hash"])
    if existing is not None:
        return _row(existing), False
    rel = f"{DATASETS_DIR}/{manifest['hash']}.json"
    data = json.dumps(manifest, sort_keys=True, indent=0).encode()
    _write_once(root / rel, data)
    if store.server is not None:  # a team project: every machine reads it from the server
        store.put_file(rel, data)
    n_pages = len({s["image"] for s in manifest["train"] + manifest["val"]})
    version_id = store.insert_dataset_version(manifest["hash"], now(), user, json.dumps(sel), len(manifest["train"]),
                                              len(manifest["val"]), n_pages, rel)
    return get_version(store, version_id), True


def _write_once(path: Path, data: bytes) -> None:
    if path.exists():
        return
    from .project import write_atomically

    write_atomically(path, data)


def _row(row) -> DatasetVersion:
    return DatasetVersion(row["id"], row["hash"], row["created_at"], row["created_by"], json.loads(row["selection"]),
                          row["n_train"], row["n_val"], row["n_pages"], row["manifest"])


def list_versions(store: Store) -> list[DatasetVersion]:
    return [_row(r) for r in store.dataset_version_rows()]


def get_version(store: Store, version_id: int) -> DatasetVersion:
    row = store.dataset_version_row(version_id)
    if row is None:
        raise NotFoundError(f"no dataset version {version_id}")
    return _row(row)


def check_trainable(version: DatasetVersion) -> None:
    """ProofdeskError, before any training, when a run could not be judged: no training lines,
    or no validation lines (every page fell in training). Says how many pages are needed."""
    share = float((version.selection or {}).get("val_share", DEFAULT_VAL_SHARE))
    enough = max(2, math.ceil(3 / share)) if share > 0 else None
    if version.n_val == 0 or version.n_train == 0:
        which = "validation" if version.n_val == 0 else "training"
        need = (f"mark more pages done: with {share:.0%} of the pages kept for validation, {enough} pages"
                " give both almost always" if enough else "this version keeps no pages for validation")
        raise ProofdeskError(f"dataset version {version.id} has no {which} lines ({version.n_pages} page(s): "
                             f"{version.n_train} training / {version.n_val} validation lines), so a run could not"
                             f" be compared with the active model; {need}")


def load_manifest(root: Path, version: DatasetVersion, project=None) -> dict:
    """The manifest, checked against the hash it is filed under (``project``: a team project's,
    fetched from the server when this machine does not have it)."""
    path = project.local(version.manifest) if project is not None else root / version.manifest
    try:
        manifest = json.loads(path.read_bytes())
    except (OSError, ValueError) as exc:
        raise ProofdeskError(f"dataset version {version.id}: cannot read {path} ({exc})") from None
    body = {k: manifest[k] for k in ("format", "val_share", "train", "val")}
    digest = hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode()).hexdigest()
    if digest != version.hash:
        raise ProofdeskError(f"dataset version {version.id}: {path.name} does not match its hash (changed on disk)")
    return manifest


@dataclass
class Diff:
    added: list[dict]
    removed: list[dict]
    changed: list[tuple[dict, dict]]  # same page and box, other text or label

    def lines(self) -> list[str]:
        out = [f"{len(self.added)} added, {len(self.removed)} removed, {len(self.changed)} changed"]
        out += [f"+ page {s['page_id']}: {s['text']!r}" for s in self.added]
        out += [f"- page {s['page_id']}: {s['text']!r}" for s in self.removed]
        out += [f"~ page {a['page_id']}: {a['text']!r} -> {b['text']!r}" for a, b in self.changed]
        return out


def diff(root: Path, a: DatasetVersion, b: DatasetVersion) -> Diff:
    """What ``b`` has that ``a`` has not, and the reverse, sample by sample."""

    def index(version):
        m = load_manifest(root, version)
        return {(s["image"], tuple(map(tuple, s["points"]))): s for s in m["train"] + m["val"]}

    ia, ib = index(a), index(b)
    added = [ib[k] for k in ib if k not in ia]
    removed = [ia[k] for k in ia if k not in ib]
    changed = [(ia[k], ib[k]) for k in ia if k in ib and (ia[k]["text"], ia[k]["label"]) != (ib[k]["text"], ib[k]["label"])]
    return Diff(added, removed, changed)
