"""Import another tool's annotations with their images: ``proofdesk import P PATH --annotations F``.

1. The reader (named, or detected from the files) reads *every* page of ``PATH`` first. A
   malformed file is one line and nothing of it is written; a page whose image is missing is a
   failure of that page's image only.
2. The images are imported as ``proofdesk import`` does (streamed, content-addressed, duplicates
   skipped), and each document's annotations are written in the document's own transaction
   (:class:`Annotations` is what :class:`core.importer.ImportOptions` hands the importer).
3. What the lines become:

   - ``as_="labels"``: people's regions (origin ``human``, one "import labels" action in the edit
     log by the importing user); the page is done when the tool says a person checked it
     (``checked`` not False), else in progress. With a prediction beside them (Label Studio keeps
     both), the prediction's regions are made first and the labels applied *over* them: a
     predicted line a label matches (polygon IoU >= 0.5) is edited into it, one no label matches
     is deleted, a label no prediction matches is added. Moderation then sees exactly what people
     made of the other tool's prediction (correct, wrong text, wrong box, deleted, missing).
   - ``as_="prediction"``: an immutable Prediction of the engine ``<format>-import`` (version: the
     sha256 of the annotation file), its regions the page's pre-filled regions; moderated and scored
     like any engine's.
   - A page's ``predictions`` (another tool's model output) always become Predictions of engine
     ``<source>``.
   - ``fields`` are kept as the page's reference (what ``eval`` and export read back).
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Callable, Iterable
from pathlib import Path

from ..errors import BadInputError
from ..geometry import iou_matrix
from ..importer import BOX_TOLERANCE_PX, ImportOptions, ImportSummary, import_paths
from ..model import HUMAN, PageStatus, PredictedRegion, Prediction
from .base import AnnotatedPage, Line, Reader, detect, reader

#: Match a label to a predicted line at this polygon IoU (the verdicts' box threshold).
MATCH_IOU = 0.5


def _key(path: Path) -> str:
    return str(Path(path).expanduser().resolve())


def _ref_lines(lines: list[Line]) -> list[dict]:
    return [{"points": [[float(x), float(y)] for x, y in ln.points], "text": ln.text,
             **({"label": ln.label} if ln.label else {})} for ln in lines]


class Annotations:
    """The pages a reader found, by image file and page number, ready for the importer."""

    def __init__(self, fmt: str, pages: list[AnnotatedPage], as_: str, user: str, version: str):
        if as_ not in ("labels", "prediction"):
            raise ValueError("as_ must be 'labels' or 'prediction'")
        self.fmt, self.as_, self.user, self.version = fmt, as_, user, version
        self.by_file: dict[str, dict[int, AnnotatedPage]] = {}
        for page in pages:
            pages_of = self.by_file.setdefault(_key(page.image), {})
            if page.page_no in pages_of:
                raise BadInputError(f"{page.image.name}: page {page.page_no} is annotated twice")
            pages_of[page.page_no] = page

    def images(self) -> list[Path]:
        """The image files, in the order the reader gave them."""
        return [Path(k) for k in self.by_file]

    # -- what the importer calls ---------------------------------------------------------------
    def has(self, path: Path) -> bool:
        return _key(path) in self.by_file

    def check_page(self, path: Path, page_no: int, width: int, height: int) -> None:
        page = self.by_file[_key(path)].get(page_no)
        if page is None:
            return
        if page.width and page.height and (abs(page.width - width) > 1 or abs(page.height - height) > 1):
            raise BadInputError(f"{Path(path).name}: the annotations are for a {page.width}x{page.height} image,"
                                f" the image is {width}x{height}")
        for source, lines in [("", page.lines), *page.predictions.items()]:
            for i, ln in enumerate(lines, start=1):
                for x, y in ln.points:
                    if not (-BOX_TOLERANCE_PX <= x <= width + BOX_TOLERANCE_PX
                            and -BOX_TOLERANCE_PX <= y <= height + BOX_TOLERANCE_PX):
                        where = f" (prediction {source})" if source else ""
                        raise BadInputError(f"{Path(path).name} p.{page_no}: line {i}{where} reaches ({x:g}, {y:g}),"
                                            f" outside the {width}x{height} page")

    def apply(self, project, path: Path, pages: list) -> None:
        """Write the annotations of ``path``'s ``pages`` (inside the importer's transaction)."""
        found = self.by_file[_key(path)]
        for page in pages:
            ann = found.get(page.page_no)
            if ann is not None:
                self._apply_page(project, page.id, ann)

    def _apply_page(self, project, page_id: int, ann: AnnotatedPage) -> None:
        store = project.store
        for source, lines in ann.predictions.items():
            self._add_prediction(store, page_id, source, lines)
        if self.as_ == "prediction":
            if ann.lines:
                self._add_prediction(store, page_id, f"{self.fmt}-import", ann.lines)
            if ann.fields or ann.lines:
                self._keep_reference(store, page_id, ann)
            return
        self._keep_reference(store, page_id, ann)
        if any(r.origin == HUMAN for r in store.regions(page_id, include_deleted=True)):
            return  # people's regions are there already (imported before): never doubled
        if not ann.lines and ann.checked is False:
            return  # nobody worked on it (a task with predictions only): it stays pre-filled
        machine = [r for r in store.regions(page_id) if r.origin != HUMAN]
        self._labels_over_prediction(store, page_id, machine, ann.lines, done=ann.checked is not False)

    def _labels_over_prediction(self, store, page_id: int, machine: list, lines: list[Line], done: bool) -> None:
        """People's lines as corrections of the machine regions on the page (see the module doc)."""
        ious = iou_matrix([r.points for r in machine], [ln.points for ln in lines]) if lines else None
        taken_regions: set[int] = set()
        taken_lines: set[int] = set()
        pairs = []
        if ious is not None:
            # Greedy by IoU, best first: each region and each line used once.
            order = sorted(((ious[i, j], i, j) for i in range(len(machine)) for j in range(len(lines))
                            if ious[i, j] >= MATCH_IOU), reverse=True)
            for _, i, j in order:
                if i not in taken_regions and j not in taken_lines:
                    taken_regions.add(i)
                    taken_lines.add(j)
                    pairs.append((i, j))
        with store.action(self.user, page_id, "import labels") as a:
            for i, j in pairs:
                r, ln = machine[i], lines[j]
                a.update_region(r.id, points=tuple(tuple(p) for p in ln.points), text=ln.text, label=ln.label)
            for i, r in enumerate(machine):
                if i not in taken_regions:
                    a.delete_region(r.id)
            for j, ln in enumerate(lines):
                if j not in taken_lines:
                    a.add_region(page_id, tuple(tuple(p) for p in ln.points), text=ln.text, label=ln.label)
            if done:
                a.set_page_status(page_id, PageStatus.DONE)

    def _add_prediction(self, store, page_id: int, engine: str, lines: list[Line]) -> None:
        config = {"format": self.fmt, "file_sha256": self.version}
        config_hash = hashlib.sha256(json.dumps(config, sort_keys=True).encode()).hexdigest()
        if store.has_prediction(page_id, engine, config_hash):
            return  # the same file imported again
        regions = tuple(PredictedRegion(points=tuple(tuple(map(float, p)) for p in ln.points), text=ln.text,
                                        confidence=1.0 if ln.confidence is None else float(ln.confidence),
                                        label=ln.label) for ln in lines)
        store.add_prediction(Prediction(page_id=page_id, engine=engine, engine_version=self.version[:12],
                                        config=config, config_hash=config_hash, regions=regions))

    def _keep_reference(self, store, page_id: int, ann: AnnotatedPage) -> None:
        if store.reference(page_id) is None:
            store.set_reference(page_id, _ref_lines(ann.lines), dict(ann.fields), f"{self.fmt}:{ann.image.name}")


def _version_of(path: Path) -> str:
    """A stable id of what was imported: the sha256 of the annotation file(s)."""
    h = hashlib.sha256()
    files = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in (
        ".txt", ".json", ".xml", ".hocr", ".html", ".tsv")) if path.is_dir() else [path]
    for f in files[:10_000]:
        h.update(f.name.encode())
        h.update(f.read_bytes())
    return h.hexdigest()


def read_annotations(path: str | Path, fmt: str = "auto") -> tuple[Reader, list[AnnotatedPage]]:
    """The reader for ``path`` and every page it reads (nothing written)."""
    path = Path(path).expanduser()
    if not path.exists():
        raise BadInputError(f"no such file or folder: {path}")
    r = detect(path) if fmt == "auto" else reader(fmt)
    try:
        pages = list(r.read(path))
    except BadInputError:
        raise
    except (ValueError, TypeError, KeyError, IndexError, AttributeError, RecursionError, UnicodeError) as exc:
        # A reader bug on hostile input must still be one line, never a traceback.
        raise BadInputError(f"{path.name}: not valid {r.title}: {type(exc).__name__}: {exc}") from exc
    return r, pages


def import_annotations(project, paths: Iterable[str | Path], fmt: str = "auto", as_: str = "labels",
                       options: ImportOptions | None = None,
                       progress: Callable[[int, int, str], None] | None = None,
                       cancel: threading.Event | None = None) -> ImportSummary:
    """Import the annotations in ``paths`` (files or folders, each read on its own) with their images."""
    options = options or ImportOptions()
    total = ImportSummary()
    for raw in paths:
        path = Path(raw).expanduser()
        try:
            r, pages = read_annotations(path, fmt)
        except BadInputError as exc:
            total.failures.append((str(path), str(exc)))
            continue
        missing = [p for p in {_key(pg.image): pg.image for pg in pages}.values() if not p.is_file()]
        if missing:
            total.failures.append((str(path), f"{len(missing)} image(s) the annotations name are missing, e.g."
                                               f" {missing[0]}: nothing of {path.name} was imported"))
            continue
        ann = Annotations(r.name, pages, as_, options.user, _version_of(path))
        opts = ImportOptions(**{**options.__dict__, "annotations": ann, "reference": False, "labels": False})
        summary = import_paths(project, ann.images(), opts, progress, cancel)
        total.imported += summary.imported
        total.duplicates += summary.duplicates
        total.failures += summary.failures
        total.document_ids += summary.document_ids
        total.pages += summary.pages
        total.cancelled = total.cancelled or summary.cancelled
        total.cancelled_in = total.cancelled_in or summary.cancelled_in
        total.stopped = total.stopped or summary.stopped
        if summary.cancelled or summary.stopped:
            break
    return total
