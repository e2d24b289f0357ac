"""tesstrain (Tesseract 4/5 LSTM training): ``--format tesstrain``.

Writes line pairs into ``OUT``, the folder tesstrain's ``GROUND_TRUTH_DIR`` points at
(``make training MODEL_NAME=x GROUND_TRUTH_DIR=OUT``)::

    <stem>_<i>.png      one region cut out of the page, upright
    <stem>_<i>.gt.txt   its text: one line of UTF-8, ending in a line break

- each region with a text -> one pair; ``i`` is the region's place on the page in reading
  order (from 0), so the names keep the page and the order. ``<stem>`` is the page's file stem
  with anything but letters, digits and ``._-`` made ``_`` (tesstrain's Makefile cannot take
  spaces).
- the crop follows the region's polygon with a perspective warp (first corner at the top-left,
  first edge along the top), so a rotated line comes out horizontal; lossless 8-bit gray PNG
  (Tesseract turns every training line into 8-bit gray before it reads it, so colour would only
  cost time and disk: a page decodes 3-4x faster in gray).
- the text: line breaks and tabs become spaces and the ends are trimmed (tesstrain reads
  one line and strips it). Regions with no text or a "don't care" text (``###``) and regions
  without area are left out.
- Not written: the page images themselves, field labels, provenance, confidences, the split of
  a dataset version (tesstrain draws its own evaluation share, ``RATIO_TRAIN``).

Nothing is read in this format (a line image and its text carry no page).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from pathlib import Path

from .base import ExportOptions, ExportPage, map_ordered, register_writer
from .paddle import FileNames, crop_line, croppable, load_page, one_line, save_image, write_new


class TesstrainWriter:
    name = "tesstrain"
    title = "tesstrain line pairs (<line>.png + <line>.gt.txt)"

    def write(self, pages: Iterable[ExportPage], out: Path, options: ExportOptions,
              progress: Callable[[int, str], None] | None = None) -> int:
        out = Path(os.path.abspath(out))
        out.mkdir(parents=True, exist_ok=True)
        names = FileNames()

        def one_page(item) -> str:
            page, base = item
            img = None
            for i, ln in enumerate(page.lines):
                if not croppable(ln):
                    continue
                if img is None:
                    img = load_page(page, gray=True)
                crop = crop_line(img, ln.points)
                if crop is None:
                    continue
                save_image(crop, out / f"{base}_{i}.png", ".png")
                write_new(out / f"{base}_{i}.gt.txt", (one_line(ln.text).strip() + "\n").encode("utf-8"))
            return page.stem

        count = 0
        # Names are given in page order here; the pages' crops are cut and written in threads.
        for stem in map_ordered(one_page, ((page, names.base(page)) for page in pages)):
            count += 1
            if progress:
                progress(count, stem)
        return count


register_writer(TesstrainWriter())
