"""Key fields per document (``--format fields``; write only): a JSON per document and one CSV.

``<document stem>.fields.json`` (``scan.fields.json`` for ``scan.pdf``, the stem the page files
of the other formats use, without the page number)::

    {"document": "scan.pdf", "pages": [1, 2],
     "fields": {"total": {"text": "9.90", "page": 2,
                          "regions": [[[x, y], [x, y], [x, y], [x, y]]]}}}

``pages``: the document's pages in this export. Each field: its ``text`` (the regions with that
label joined in reading order), the ``page`` it was read from, and those regions' polygons
(corners clockwise from the top-left, image pixels of that page). Every labelled field is there,
in the schema or not.

``fields.csv``: one row per document, the columns ``document`` and then one per field of the
project's schema, in its order (without a schema, every field found, in the order first met);
an empty cell where the document has no value; labels outside the schema are only in the JSON.
UTF-8 with a byte-order mark (so Excel reads accents right) and RFC 4180 quoting (``,``, ``"``
and line breaks quoted, CRLF line ends). A cell that Excel would run as a formula (starting
``=``, ``+``, ``-``, ``@``, tab or CR, and not a plain number such as ``-5.00``) gets a leading
``'``, so a document cannot put a formula in the sheet.

A document of several pages is one row and one JSON: its fields merged across its pages, the
first page (in page order) with a value winning per field; a value on a later page is dropped.
Not written: lines without a label, and a page's status and provenance (the ``reference`` format
has them).
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Callable, Iterable
from pathlib import Path

from .base import ExportOptions, ExportPage, register_writer
from .reference import _coord, write_atomic

CSV_NAME = "fields.csv"
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_PLAIN_NUMBER = re.compile(r"^[+-]?(\d[\d,.]*)?\d%?$")


def csv_cell(value: str) -> str:
    """``value`` made safe to open in a spreadsheet: a formula-looking start gets a ``'``."""
    if value.startswith(_FORMULA_START) and not _PLAIN_NUMBER.match(value):
        return "'" + value
    return value


def _safe(name: str) -> str:
    return re.sub(r"[^\w.-]+", "_", name).strip("._") or "document"


def document_stem(page: ExportPage) -> str:
    """The page's file stem without its page number (``scan-p002`` -> ``scan``)."""
    if page.page_count > 1:
        suffix = f"-p{page.page_no:0{max(3, len(str(page.page_count)))}d}"
        if page.stem.endswith(suffix) and len(page.stem) > len(suffix):
            return page.stem[: -len(suffix)]
        return _safe(Path(page.document).stem)
    return page.stem


class _Document:
    def __init__(self, page: ExportPage, stem: str):
        self.name = page.document
        self.page_count = page.page_count
        self.stem = stem
        self.pages: list[int] = []
        self.fields: dict[str, dict] = {}

    def add(self, page: ExportPage) -> None:
        self.pages.append(page.page_no)
        for name, text in page.fields.items():
            if name in self.fields or not str(text).strip():
                continue  # the first page with a value wins
            regions = [[[_coord(x), _coord(y)] for x, y in ln.points] for ln in page.lines if ln.label == name]
            self.fields[name] = {"text": text, "page": page.page_no, "regions": regions}

    def record(self) -> dict:
        return {"document": self.name, "pages": sorted(self.pages), "fields": self.fields}


class FieldsWriter:
    name = "fields"
    title = "Key fields: a JSON per document and fields.csv"

    def write(self, pages: Iterable[ExportPage], out: Path, options: ExportOptions,
              progress: Callable[[int, str], None] | None = None) -> int:
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        schema = getattr(options, "fields", None)
        docs: list[_Document] = []
        used: set[str] = {CSV_NAME.lower()}
        current: _Document | None = None
        seen_fields: dict[str, None] = {}
        count = 0
        for page in pages:
            # Pages come document by document, in page order; a new document starts when the name
            # changes or a page number comes again (two documents of one name).
            if current is None or current.name != page.document or page.page_no in current.pages:
                if current is not None:
                    self._flush(current, out)
                stem, n = document_stem(page), 2
                base = stem
                while f"{stem}.fields.json".lower() in used:  # case-insensitive file systems
                    stem, n = f"{base}_{n}", n + 1
                used.add(f"{stem}.fields.json".lower())
                current = _Document(page, stem)
                docs.append(current)
            current.add(page)
            for name in page.fields:
                seen_fields.setdefault(name, None)
            count += 1
            if progress is not None:
                progress(count, page.stem)
        if current is not None:
            self._flush(current, out)
        columns = list(schema) if schema is not None else list(seen_fields)
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\r\n", quoting=csv.QUOTE_MINIMAL)
        w.writerow(["document", *columns])
        for doc in docs:
            w.writerow([csv_cell(doc.name), *(csv_cell(doc.fields[c]["text"]) if c in doc.fields else ""
                                              for c in columns)])
        write_atomic(out / CSV_NAME, "\ufeff" + buf.getvalue(), newline="")
        return count

    @staticmethod
    def _flush(doc: _Document, out: Path) -> None:
        write_atomic(out / f"{doc.stem}.fields.json", json.dumps(doc.record(), ensure_ascii=False, indent=1))


register_writer(FieldsWriter())
