"""Key fields per document (``--format fields``; write only): a JSON per document and one CSV.

A page's key fields are its field values (issue 15: what pre-fill read and people corrected,
checked or marked absent in the workspace); a field name the page has no value of but some of
its regions are labelled with is taken from those regions (their texts joined in reading order,
normalised the same way, ``origin`` ``labels``).

``<document stem>.fields.json`` (``scan.fields.json`` for ``scan.pdf``, the stem the page files
of the other formats use, without the page number)::

    {"document": "scan.pdf", "page_count": 2, "pages": [1, 2],
     "fields": {"total": {"name": "total", "text": "9,90 €", "value": "9.90", "currency": "EUR",
                          "confidence": 0.93, "page": 2, "region_ids": [12],
                          "regions": [[[x, y], [x, y], [x, y], [x, y]]],
                          "confirmed_by": "ana", "checked": false, "origin": "human",
                          "absent": false}}}

``pages``: the document's pages in this export; ``page_count``: its pages in the project. Each
field: its ``text`` as printed; ``value``, the normalised value (``core.fields.normalise``: an ISO
date, an amount with two decimals and its ``currency`` code, an identifier without spaces, a text
with single spaces; null when the text does not read as one); the engine's ``confidence`` (null
for a value a person typed); the ``page`` it was read from; ``region_ids``, the regions it was
read from, and ``regions``, their polygons in the same order (corners clockwise from the
top-left, pixels of that page); ``confirmed_by``, who set or checked it last (null: nobody, the
machine's value as pre-filled); ``checked``, whether that was accepting the value as it was;
``origin`` (``prediction``, ``human`` or ``labels``); ``absent``: the field is not on the page
(``text`` empty, ``value`` null). Every field is there, in the schema or not.

``fields.csv``: one row per document, the columns ``document``, ``pages`` (its page count) and
then one per field of the project's schema, in its order (without a schema, every field found, in
the order first met); each cell the normalised value where there is one, else the text; an empty
cell where the document has no value or the field is absent; fields outside the schema are only
in the JSON. UTF-8 with a byte-order mark (so Excel reads accents right) and RFC 4180 quoting
(``,``, ``"`` and line breaks quoted, CRLF line ends). A cell that Excel would run as a formula
(starting ``=``, ``+``, ``-``, ``@``, tab or CR, and not a plain number such as ``-5.00``) gets a
leading ``'``, so a document cannot put a formula in the sheet.

A document of several pages is one row and one JSON: its fields merged across its pages, the
first page (in page order) that has a value winning per field; a value on a later page is
dropped, and a field absent (or empty) on one page is taken from a later page that has it. An
amount (``total``, ``net_total``, ``tax_total``...: ``core.fields.field_type``) is the other way
round, the last page with a value winning: a long invoice's totals close it, and an earlier
page's amount is a carried-forward subtotal ("Übertrag", "à reporter").
Not written: lines without a label, and a page's status and the lines' provenance (the
``reference`` format has them).
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Callable, Iterable
from pathlib import Path

from ..fields import AMOUNT, field_type
from .base import ExportField, ExportOptions, ExportPage, register_writer
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


def fields_from_labels(lines) -> dict[str, ExportField]:
    """Key fields from labelled regions: per label, the texts of its lines joined in reading order,
    normalised by the field's type; who confirmed it: the last person who changed one of them."""
    from ..fields import normalise

    grouped: dict[str, list] = {}
    for ln in lines:
        if ln.label:
            grouped.setdefault(ln.label, []).append(ln)
    out = {}
    for name, lns in grouped.items():
        text = ""
        for ln in lns:
            text = f"{text} {ln.text}".strip()
        n = normalise(name, text)
        confs = [ln.confidence for ln in lns if ln.confidence is not None]
        people = sorted((ln.updated_at or "", ln.updated_by) for ln in lns
                        if ln.updated_by and (ln.origin == "human" or ln.corrected))
        out[name] = ExportField(name=name, text=text, value=n.value, currency=n.currency,
                                confidence=min(confs) if confs else None,
                                regions=[ln.id for ln in lns if ln.id is not None],
                                boxes=[list(ln.points) for ln in lns],
                                confirmed_by=people[-1][1] if people else None, origin="labels")
    return out


def _has(f: ExportField) -> bool:
    return not f.absent and bool(f.text.strip() or f.value)


class _Document:
    def __init__(self, page: ExportPage, stem: str):
        self.name = page.document
        self.page_count = page.page_count
        self.stem = stem
        self.pages: list[int] = []
        self.fields: dict[str, dict] = {}
        self._has: dict[str, bool] = {}

    def add(self, page: ExportPage) -> None:
        self.pages.append(page.page_no)
        found = page.key_fields or fields_from_labels(page.lines)
        for name, f in found.items():
            if not (_has(f) or f.absent):
                continue  # an empty value says nothing
            if self._has.get(name) and not (_has(f) and field_type(name) == AMOUNT):
                continue  # the first page with a value wins; for an amount, the last one
            if name in self.fields and not _has(f):
                continue  # absent here too: the first page's word stands
            self._has[name] = _has(f)
            self.fields[name] = {
                "name": name, "text": f.text, "value": f.value, "currency": f.currency,
                "confidence": round(float(f.confidence), 4) if f.confidence is not None else None,
                "page": page.page_no, "region_ids": [i for i in f.regions if i is not None],
                "regions": [[[_coord(x), _coord(y)] for x, y in box] for box in f.boxes],
                "confirmed_by": f.confirmed_by, "checked": f.checked, "origin": f.origin, "absent": f.absent}

    def cell(self, name: str) -> str:
        f = self.fields.get(name)
        if f is None or f["absent"]:
            return ""
        return f["value"] if f["value"] is not None else f["text"]

    def record(self) -> dict:
        return {"document": self.name, "page_count": self.page_count, "pages": sorted(self.pages),
                "fields": self.fields}


class FieldsWriter:
    name = "fields"
    title = "Key fields: a JSON per document and fields.csv"
    carries_fields = True

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
            for name in page.key_fields or page.fields:
                seen_fields.setdefault(name, None)
            count += 1
            if progress is not None:
                progress(count, page.stem)
        if current is not None:
            self._flush(current, out)
        columns = list(schema) if schema is not None else list(seen_fields)
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\r\n", quoting=csv.QUOTE_MINIMAL)
        w.writerow(["document", "pages", *columns])
        for doc in docs:
            w.writerow([csv_cell(doc.name), doc.page_count, *(csv_cell(doc.cell(c)) for c in columns)])
        write_atomic(out / CSV_NAME, "\ufeff" + buf.getvalue(), newline="")
        return count

    @staticmethod
    def _flush(doc: _Document, out: Path) -> None:
        write_atomic(out / f"{doc.stem}.fields.json", json.dumps(doc.record(), ensure_ascii=False, indent=1))


register_writer(FieldsWriter())
