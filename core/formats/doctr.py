"""docTR (mindee/doctr reference training scripts): ``--format doctr``.

Writes in ``OUT`` the two folder layouts docTR's ``references/detection/train.py`` and
``references/recognition/train.py`` take as ``--train_path`` / ``--val_path``::

    images/<stem>.png|jpg           the page images
    labels.json                     {"<image file>": {"img_dimensions": [height, width],
                                                      "img_hash": "<sha256 of the image file>",
                                                      "polygons": [[[x, y] x 4], ...]}}
    recognition/images/<stem>_<i>.png   each region cut out upright
    recognition/labels.json         {"<crop file>": "<text>"}

- each region -> a polygon: its four corners clockwise from the top-left, image pixels
  (docTR keeps the polygon with ``--rotation`` / ``use_polygons``, else its bounding box);
  ``img_dimensions`` is the image's shape as docTR writes shapes, (height, width).
- each region with a text -> a crop (perspective warp along the polygon, so rotated lines come
  out horizontal) and its text; line breaks and tabs become spaces; "don't care" texts
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
from .base import ExportOptions, ExportPage, register_writer
from .paddle import (
    SPLITS,
    FileNames,
    copy_image,
    crop_line,
    croppable,
    image_suffix,
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


def _dump(data: dict, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, ensure_ascii=False, indent=1), encoding="utf-8")
    os.replace(tmp, path)


class DoctrWriter:
    name = "doctr"
    title = "docTR (labels.json + images/, recognition/)"

    def write(self, pages: Iterable[ExportPage], out: Path, options: ExportOptions,
              progress: Callable[[int, str], None] | None = None) -> int:
        out = Path(os.path.abspath(out))
        out.mkdir(parents=True, exist_ok=True)
        names = FileNames()
        det: dict[str, dict] = {"": {}}  # split ("" = all) -> labels.json
        rec: dict[str, dict] = {"": {}}
        count = 0
        for page in pages:
            base = names.base(page)
            file_name = base + image_suffix(page)
            split = page.split if page.split in SPLITS else None
            image_path = out / "images" / file_name
            if options.copy_images:
                copy_image(page.image, image_path)
                if split:
                    link_or_copy(image_path, out / split / "images" / file_name)
            entry = {
                "img_dimensions": [page.height, page.width],
                "img_hash": _sha256(image_path if options.copy_images else page.image),
                "polygons": [[[round(float(x), 2), round(float(y), 2)] for x, y in ln.points] for ln in page.lines],
            }
            det[""][file_name] = entry
            if split:
                det.setdefault(split, {})[file_name] = entry
            img = None
            for i, ln in enumerate(page.lines):
                if not croppable(ln):
                    continue
                if img is None:
                    img = load_page(page)
                crop = crop_line(img, ln.points)
                if crop is None:
                    continue
                crop_name = f"{base}_{i}.png"
                crop_path = out / "recognition" / "images" / crop_name
                save_image(crop, crop_path, ".png")
                text = one_line(ln.text)
                rec[""][crop_name] = text
                if split:
                    link_or_copy(crop_path, out / "recognition" / split / "images" / crop_name)
                    rec.setdefault(split, {})[crop_name] = text
            del img
            count += 1
            if progress:
                progress(count, page.stem)
        for split, labels in det.items():
            _dump(labels, out / split / "labels.json" if split else out / "labels.json")
        for split, labels in rec.items():
            _dump(labels, out / "recognition" / split / "labels.json" if split else out / "recognition" / "labels.json")
        return count


register_writer(DoctrWriter())
