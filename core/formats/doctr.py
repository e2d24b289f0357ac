"""docTR (mindee/doctr reference training scripts): ``--format doctr``.

Writes in ``OUT`` the two folder layouts docTR's ``references/detection/train.py`` and
``references/recognition/train.py`` take as ``--train_path`` / ``--val_path``::

    images/<stem>.png|jpg           the page images
    labels.json                     {"<image file>": {"img_dimensions": [height, width],
                                                      "img_hash": "<sha256 of the image file>",
                                                      "polygons": [[[x, y] x 4], ...]}}
    recognition/images/<stem>_<i>.jpg   each region cut out upright
    recognition/labels.json         {"<crop file>": "<text>"}

- each region -> a polygon: its four corners clockwise from the top-left, image pixels
  (docTR keeps the polygon with ``--rotation`` / ``use_polygons``, else its bounding box);
  ``img_dimensions`` is the image's shape as docTR writes shapes, (height, width).
- each region with a text -> a crop (perspective warp along the polygon, so rotated lines come
  out horizontal; JPEG at OpenCV's quality 95, as PaddleOCR's crops: a third of the time and
  disk of PNG, which matters at 10,000 pages) and its text; line breaks and tabs become spaces; "don't care" texts
  (``###``), empty texts and regions without area are left out. docTR's recognition is trained
  on words: Proofdesk's regions are lines, so use a vocab with the space in it.
- with a dataset version, the same again per split for docTR's ``--train_path`` and
  ``--val_path``: ``train/`` and ``val/`` (``images/`` + ``labels.json``) and
  ``recognition/train/``, ``recognition/val/`` (hard links where the disk allows).
- Not written: field labels (docTR's multi-class detection would take them as classes),
  provenance, confidences. Without copying images, ``labels.json`` still names the images
  (``<stem>.png``) and ``images/`` is left for you to fill.

Nothing is read in this format.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Iterable
from pathlib import Path

from ..errors import BadInputError
from .base import ExportOptions, ExportPage, map_ordered, register_writer
from .paddle import (
    FileNames,
    copy_image,
    crop_line,
    croppable,
    link_or_copy,
    load_page,
    one_line,
    save_image,
)


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    try:
        with open(path, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
    except OSError as exc:
        raise BadInputError(f"cannot read {path}: {exc.strerror or exc}") from None
    return h.hexdigest()


class _JsonObjectFile:
    """A JSON object written member by member (a labels.json of 10,000 pages never is in memory
    whole), under a temporary name until it is closed complete."""

    def __init__(self, path: Path):
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path, self.tmp = path, path.with_name(path.name + ".tmp")
        self.f = open(self.tmp, "w", encoding="utf-8", newline="\n")
        self.f.write("{")
        self.first = True

    def add(self, key: str, value) -> None:
        self.f.write(("\n " if self.first else ",\n ") + json.dumps(key, ensure_ascii=False) + ": "
                     + json.dumps(value, ensure_ascii=False))
        self.first = False

    def close(self) -> None:
        self.f.write("\n}\n")
        self.f.close()
        os.replace(self.tmp, self.path)

    def discard(self) -> None:
        self.f.close()
        self.tmp.unlink(missing_ok=True)


class DoctrWriter:
    name = "doctr"
    title = "docTR (labels.json + images/, recognition/)"

    def write(self, pages: Iterable[ExportPage], out: Path, options: ExportOptions,
              progress: Callable[[int, str], None] | None = None) -> int:
        out = Path(os.path.abspath(out))
        out.mkdir(parents=True, exist_ok=True)
        names = FileNames()
        files: dict[tuple[str, str], _JsonObjectFile] = {}  # (det|rec, split: "" = all) -> its labels.json

        def labels(kind: str, split: str) -> _JsonObjectFile:
            if (kind, split) not in files:
                folder = (out / "recognition" if kind == "rec" else out) / split if split else (
                    out / "recognition" if kind == "rec" else out)
                files[(kind, split)] = _JsonObjectFile(folder / "labels.json")
            return files[(kind, split)]

        labels("det", "")
        labels("rec", "")
        count = 0

        def files_of(item):
            """The page's image, its hash and its crops, written (in a thread: OpenCV and the disk
            release the GIL)."""
            page, base, file_name, split = item
            image_path = out / "images" / file_name
            if options.copy_images:
                copy_image(page.image, image_path)
                if split:
                    link_or_copy(image_path, out / split / "images" / file_name)
            digest = _sha256(image_path if options.copy_images else page.image)
            crops, img = [], None
            for i, ln in enumerate(page.lines):
                if not croppable(ln):
                    continue
                if img is None:
                    img = load_page(page)
                crop = crop_line(img, ln.points)
                if crop is None:
                    continue
                crop_name = f"{base}_{i}.jpg"
                crop_path = out / "recognition" / "images" / crop_name
                save_image(crop, crop_path, ".jpg")
                if split:
                    link_or_copy(crop_path, out / "recognition" / split / "images" / crop_name)
                crops.append((crop_name, one_line(ln.text)))
            return item, digest, crops

        try:
            for (page, _base, file_name, split), digest, crops in map_ordered(files_of, map(names.entry, pages)):
                entry = {
                    "img_dimensions": [page.height, page.width],
                    "img_hash": digest,
                    "polygons": [[[round(float(x), 2), round(float(y), 2)] for x, y in ln.points]
                                 for ln in page.lines],
                }
                for sp in ("", split) if split else ("",):
                    labels("det", sp).add(file_name, entry)
                    for crop_name, text in crops:
                        labels("rec", sp).add(crop_name, text)
                count += 1
                if progress:
                    progress(count, page.stem)
        except BaseException:
            for f in files.values():
                f.discard()
            raise
        for f in files.values():
            f.close()
        return count


register_writer(DoctrWriter())
