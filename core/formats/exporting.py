"""Export a project's pages in any format: ``proofdesk export P OUT --format F``.

Pages (all, a status, or chosen ids) are handed to the format's writer one at a time as
:class:`~core.formats.base.ExportPage`: their regions now (deleted ones left out) in reading
order, each saying where it came from (``origin`` human or prediction, ``corrected`` when a
person changed a machine line, who changed it last and when), the page's fields, and a file
stem that keeps the page number and never collides (``scan-p001`` for page 1 of ``scan.pdf``;
``X_pdf`` and ``X_png`` when ``X.pdf`` and ``X.png`` are both in the project).

With a dataset version (``--dataset-version N``) only that version's pages are exported, each
with the lines the version froze (exactly what training read) and its ``split`` (train / val),
so the same split trains inside and outside Proofdesk.
"""

from __future__ import annotations

import os
import re
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

from ..errors import BadInputError
from ..fields import many_valued
from ..model import HUMAN
from .base import ExportField, ExportOptions, ExportPage, Line, writer


def safe_stem(name: str) -> str:
    """A file-name-safe version of ``name`` (letters, digits, ``._-``; accents kept)."""
    return re.sub(r"[^\w.-]+", "_", name, flags=re.UNICODE).strip("._") or "page"


def _stems(documents) -> dict[int, str]:
    """Document id -> a unique base stem: its name without the extension, or with it (``X_pdf``)
    when two documents share a name but for the extension."""
    base = {d.id: safe_stem(Path(d.name).stem) for d in documents}
    clash = Counter(base.values())
    out, used = {}, set()
    for d in documents:
        stem = base[d.id]
        if clash[stem] > 1:
            stem = safe_stem(d.name.replace(".", "_"))
        s, n = stem, 2
        while s.lower() in used:  # case-insensitive file systems (Windows, macOS)
            s, n = f"{stem}_{n}", n + 1
        used.add(s.lower())
        out[d.id] = s
    return out


def page_stem(doc_stem: str, page_no: int, page_count: int) -> str:
    if page_count <= 1:
        return doc_stem
    return f"{doc_stem}-p{page_no:0{max(3, len(str(page_count)))}d}"


def export_pages(project, status: str | None = None, page_ids: list[int] | None = None,
                 dataset_version: int | None = None,
                 predictions: bool = True, key_fields: bool = True) -> tuple[int, Iterator[ExportPage]]:
    """How many pages, and the pages as writers get them, built one at a time (10,000 pages'
    regions are never all in memory). ``predictions``: also read each page's stored predictions
    (only writers that carry them need the extra query and parsing per page); ``key_fields``:
    also read each page's field values (:func:`key_fields_of`)."""
    store = project.store
    docs = store.documents()
    by_id = {d.id: d for d in docs}
    stems = _stems(docs)
    frozen: dict[int, tuple[str, list[dict]]] = {}
    if dataset_version is not None:
        from ..datasets import get_version, load_manifest

        manifest = load_manifest(project.root, get_version(store, dataset_version), project)
        for split in ("train", "val"):
            for s in manifest[split]:
                frozen.setdefault(s["page_id"], (split, []))[1].append(s)
    pages = store.pages(status)
    if page_ids is not None:
        wanted = set(page_ids)
        unknown = wanted - {p.id for p in pages}
        if unknown and status is None:
            raise BadInputError(f"no such page(s): {', '.join(map(str, sorted(unknown)))}")
        pages = [p for p in pages if p.id in wanted]
    if dataset_version is not None:
        pages = [p for p in pages if p.id in frozen]

    def build() -> Iterator[ExportPage]:
        for page in pages:
            doc = by_id[page.document_id]
            if page.id in frozen:
                split, samples = frozen[page.id]
                # A manifest's points are on the stored image; the export shows the page as shown.
                lines = [Line(points=page.from_image(s["points"]), text=s["text"], label=s.get("label"),
                              origin=HUMAN) for s in samples]
            else:
                split, lines = None, _lines(store, page.id)
            fields: dict[str, str] = {}
            for ln in lines:
                if ln.label:
                    # Several regions with one label (an address over three lines) join in reading order.
                    fields[ln.label] = f"{fields[ln.label]} {ln.text}".strip() if ln.label in fields else ln.text
            count = doc.page_count or 1
            latest = {}
            for pred in store.predictions(page.id) if predictions else ():  # oldest first: the last of each engine wins
                latest[pred.engine] = [Line(points=[tuple(p) for p in r.points], text=r.text, label=r.label,
                                            confidence=r.confidence, origin="prediction") for r in pred.regions]
            yield ExportPage(page_id=page.id, document=doc.name, page_no=page.page_no, page_count=count,
                             stem=page_stem(stems[doc.id], page.page_no, count),
                             image=project.image_path(page), width=page.width, height=page.height,
                             status=page.status.value, lines=lines, fields=fields, split=split,
                             predictions=latest,
                             key_fields=key_fields_of(store, page.id, lines) if key_fields else {})

    return len(pages), build()


def key_fields_of(store, page_id: int, lines: list[Line]) -> dict[str, ExportField]:
    """A page's key fields for export: its field values (issue 15; source regions that are no
    longer on the page left out), then, for each other name some regions are labelled with, those
    regions (:func:`fields_from_labels`)."""
    from .fields import fields_from_labels

    by_id = {ln.id: ln for ln in lines if ln.id is not None}
    out: dict[str, ExportField] = {}
    for pf in store.page_fields(page_id):
        v = pf.value
        ids = [i for i in v.sources if i in by_id]
        out[v.name] = ExportField(name=v.name, text=v.text, value=v.value, currency=v.currency,
                                  confidence=v.confidence, regions=ids,
                                  boxes=[[tuple(p) for p in by_id[i].points] for i in ids],
                                  confirmed_by=pf.confirmed_by, absent=v.absent, origin=pf.origin,
                                  checked=pf.checked)
    for name, f in fields_from_labels(lines).items():
        out.setdefault(name, f)
    return out


def _lines(store, page_id: int) -> list[Line]:
    prov = store.region_provenance(page_id)
    out = []
    for r in store.regions(page_id):
        touched, by, at = prov.get(r.id, (False, None, None))
        out.append(Line(points=[tuple(p) for p in r.points], text=r.text, label=r.label, confidence=r.confidence,
                        origin=HUMAN if r.origin == HUMAN else "prediction",
                        corrected=r.origin != HUMAN and bool(touched), updated_by=by, updated_at=at, id=r.id))
    return out


def export(project, out: str | os.PathLike, fmt: str = "reference", status: str | None = None,
           page_ids: list[int] | None = None, options: ExportOptions | None = None,
           progress: Callable[[int, int, str], None] | None = None) -> int:
    """Write the pages in format ``fmt`` under ``out``; return the pages written."""
    w = writer(fmt)
    options = options or ExportOptions()
    if options.fields is None:
        # the project's schema, in its order (fields.csv columns); a form's labels are on its regions
        options.fields = [n for n in project.store.fields() if not many_valued(n)]
    out = Path(out).expanduser()
    out.mkdir(parents=True, exist_ok=True)
    total, pages = export_pages(project, status, page_ids, options.dataset_version,
                                predictions=getattr(w, "carries_predictions", False),
                                key_fields=getattr(w, "carries_fields", False))
    report = None if progress is None else (lambda n, stem: progress(n, total, stem))
    return w.write(pages, out, options, report)
