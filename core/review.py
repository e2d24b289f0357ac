"""Review and moderation: stored verdicts, the QC review queue, annotator scores, auto-accept.

Verdicts are derived data (``core.verdicts`` computes them from the immutable Prediction and
the current Regions); they are *stored* per region in ``verdicts`` so that the Moderate and
Analytics screens can count them per page, engine, model version and day with one query.
Keeping them current must not slow typing, so a text edit does nothing here. Instead:

- marking a page done and reviewing a page refresh its verdicts in the same transaction;
- every action bumps ``pages.updated_at``; ``verdict_state`` remembers the value the verdicts
  were computed for, and :func:`refresh_stale` recomputes the pages where the two differ
  (the screens call it before they count).

QC routing happens when a page is marked done (:func:`route_page`): a seeded share of pages
(``core.sampling``) plus every page likely to still hold wrong regions (more expected among the
machine-read regions nobody checked than the project allows: :func:`expected_wrong`) or where
engines disagree. Each routed page keeps its reasons. A review scores the annotator from the reviewer's corrections
(:func:`score_annotator`): the CER of the annotator's text against the reviewed text and the
IoU of their boxes, read from the edit log (what each region was before the reviewer's first
change after the page was done).

Key fields (issue 15) get verdicts in the same refresh (:func:`page_field_verdicts_now`,
``core.verdicts.compute_field_verdicts``): stored in ``field_verdicts`` with their running totals
per field, model version and day, a reviewer's marks in ``field_verdict_marks`` (:func:`mark_field`).

Role rules live in core: :func:`require_role` reads the user's role from the project (a user
the project does not know is an annotator).
"""

from __future__ import annotations

import datetime as _dt
import json
import math
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass

from . import days, sampling
from .geometry import iou as box_iou
from .geometry import iou_matrix
from .model import AUTO_ACCEPT_USER, HUMAN, PageStatus, Role, people_finished
from .roles import require
from .scoring import levenshtein, nfc
from .verdicts import CORRECT, Verdict, compute_verdicts

# -- project settings ------------------------------------------------------------------------
QC_SHARE = "qc_share"
QC_SEED = "qc_seed"
#: The most wrong regions a page may be expected to hold, among the machine-read regions nobody
#: checked, before it is routed (``core.sampling.DEFAULT_EXPECTED_WRONG_MAX``). It replaces
#: ``qc_confidence_threshold`` ("any region below"), which routed every invoice page.
QC_EXPECTED_WRONG_MAX = "qc_expected_wrong_max"
QC_BLIND = "qc_blind"
#: Engines disagree on a page when two engines' latest predictions read overlapping boxes
#: (IoU at least this) differently, or a predicted region carries a ``disagree`` flag.
DISAGREEMENT_IOU = 0.5


@dataclass(frozen=True)
class QCSettings:
    share: float = sampling.DEFAULT_SHARE
    seed: int = 0
    expected_wrong_max: float = sampling.DEFAULT_EXPECTED_WRONG_MAX
    blind: bool = True


def qc_settings(store) -> QCSettings:
    return QCSettings(
        share=float(store.get_setting(QC_SHARE, sampling.DEFAULT_SHARE)),
        seed=int(store.get_setting(QC_SEED, 0)),
        expected_wrong_max=float(store.get_setting(QC_EXPECTED_WRONG_MAX, sampling.DEFAULT_EXPECTED_WRONG_MAX)),
        blind=bool(store.get_setting(QC_BLIND, True)),
    )


def set_qc_settings(store, user: str, share: float | None = None, seed: int | None = None,
                    expected_wrong_max: float | None = None, blind: bool | None = None) -> QCSettings:
    """Change the QC rules: admins, once the project has one (``Store.require_admin``). Each
    value is checked before any is written. They apply to pages marked done from now on."""
    store.require_admin(user)
    if share is not None and not 0.0 <= share <= 1.0:
        raise ValueError("the QC sample share is a fraction between 0 and 1")
    if expected_wrong_max is not None and not (math.isfinite(expected_wrong_max) and expected_wrong_max >= 0):
        raise ValueError("the expected wrong regions a page may hold is a number of regions, 0 or more")
    with store.transaction():
        if share is not None:
            store.set_setting(QC_SHARE, float(share))
        if seed is not None:
            store.set_setting(QC_SEED, int(seed))
        if expected_wrong_max is not None:
            store.set_setting(QC_EXPECTED_WRONG_MAX, float(expected_wrong_max))
        if blind is not None:
            store.set_setting(QC_BLIND, bool(blind))
    return qc_settings(store)


# -- roles -----------------------------------------------------------------------------------
def role_of(store, user: str) -> Role:
    """The user's role in this project; someone the project does not know is an annotator."""
    u = store.get_user(user)
    return u.role if u else Role.ANNOTATOR


def require_role(store, user: str, action: str) -> None:
    """Raise PermissionDenied unless ``user`` may do ``action`` (``annotate``, ``review``, ``admin``)."""
    require(role_of(store, user), action)


def may(store, user: str, action: str) -> bool:
    """Whether ``user`` may ``action`` (``annotate``, ``review``, ``admin``) in this project: the
    rule core enforces, asked beforehand so that a screen shows what a role cannot do disabled.
    ``admin`` is :meth:`Store.require_admin`'s rule (anyone, in a project without an admin yet)."""
    from .errors import PermissionDenied

    try:
        if action == "admin":
            store.require_admin(user)
        else:
            require_role(store, user, action)
    except PermissionDenied:
        return False
    return True


def _roles_in_use(store) -> bool:
    return store.roles_in_use()


def sees_annotators(store, viewer: str | None) -> bool:
    """Whether ``viewer`` sees who annotated a blind-routed page: admins (and one-person projects)."""
    return viewer is None or role_of(store, viewer) == Role.ADMIN or not _roles_in_use(store)


def require_viewer(store, user: str) -> None:
    """Opening the Moderate and Analytics screens: reviewers and admins.

    A project nobody has been given a reviewer or admin role in is a one-person project, and
    its user may look (approving still needs the role: ``Store.review_page``).
    """
    if _roles_in_use(store):
        require_role(store, user, "review")


# -- verdicts --------------------------------------------------------------------------------
def _day(ts: str | None, tz) -> str:
    """The day of a timestamp in ``tz`` (the zone the stored per-day figures are in: core.days)."""
    return days.local_day(ts, tz) or _dt.date.today().isoformat()


def _load(store, page_id: int):
    return store.page_row(page_id), store.page_regions(page_id), store.prediction_rows(page_id)


def _prediction(row: sqlite3.Row):
    from .model import PredictedRegion, Prediction

    regions = tuple(PredictedRegion(points=tuple(tuple(p) for p in d["points"]), text=d["text"],
                                    confidence=d["confidence"], label=d.get("label"))
                    for d in json.loads(row["regions"]))
    return Prediction(row["page_id"], row["engine"], row["engine_version"], {}, row["config_hash"], regions,
                      model_version=row["model_version"], id=row["id"])


def page_verdicts_now(store, page_id: int) -> tuple[list[tuple[sqlite3.Row, Verdict]], sqlite3.Row | None]:
    """Every verdict of a page: regions against the predictions they came from.

    Regions keep their own prediction (a touched region survives a later pre-fill); regions a
    person added count as ``missing`` against the prediction people worked from: the latest
    one with regions on the page, else the latest made before the page was done. A prediction
    made after people finished the page (a new model run for comparison: it changes nothing
    on the page) is graded on nothing.
    """
    page, regions, preds = _load(store, page_id)
    if page is None or not preds:
        return [], page
    by_id = {p["id"]: p for p in preds}
    used = {r.prediction_id for r in regions if r.origin != HUMAN and r.prediction_id in by_id}
    out: list[tuple[sqlite3.Row, Verdict]] = []
    machine = [r for r in regions if r.origin != HUMAN]
    for pid in sorted(used):
        for v in compute_verdicts(_prediction(by_id[pid]), machine):
            out.append((by_id[pid], v))
    if used:
        base = by_id[max(used)]
    else:
        done_at = page["done_at"]
        before = [p for p in preds if not done_at or p["created_at"] <= done_at]
        base = before[-1] if before else None
    if base is not None:
        for v in compute_verdicts(_prediction(base), [r for r in regions if r.origin == HUMAN]):
            out.append((base, v))
    return out, page


def refresh_verdicts(store, page_id: int) -> int:
    """Recompute and store the verdicts of one page; return how many it has.

    Runs inside the caller's transaction when there is one (marking done, a review), else in
    its own.
    """
    with store.transaction():
        return _refresh_verdicts(store, page_id)


def _refresh_verdicts(store, page_id: int) -> int:
    pairs, page = page_verdicts_now(store, page_id)
    if store.page_in_totals(page_id):
        store.add_to_totals(page_id, -1)  # take the old rows out of the running totals
    store.delete_verdicts(page_id)
    if page is None:
        store.delete_verdict_state(page_id)
        return 0
    marks = store.verdict_marks(page_id)
    day = _day(page["done_at"] or page["updated_at"], days.days_zone(store))
    rows = []
    n_wrong = n_wrong_labels = 0
    for pred, v in pairs:
        mark = marks.get(v.region_id)
        if v.kind != CORRECT or mark == "wrong":
            n_wrong += 1
        n_wrong_labels += v.label_wrong
        rows.append((page_id, pred["id"], pred["engine"], pred["engine_version"], pred["model_version"],
                     v.region_id, v.pred_index, v.kind, v.edit_distance, v.ref_chars, v.iou, v.confidence,
                     mark, page["done_by"], day, v.pred_label, v.label))
    store.write_verdicts(rows)
    # Model figures, edit rates and auto-accept count the pages people finished (done or
    # approved): a page nobody has looked at yet is "unchanged", not "correct"; so is one
    # auto-accepted and not reviewed since.
    in_hist = people_finished(page["status"], page["done_by"])
    if in_hist:
        store.add_to_totals(page_id, +1)
    store.write_verdict_state(page_id, page["updated_at"], n_wrong, store.min_machine_confidence(page_id), in_hist,
                              n_wrong_labels)
    _refresh_field_verdicts(store, page_id, page, day, in_hist)
    return len(rows)


# -- field verdicts (issue 15) ----------------------------------------------------------------
def field_prediction_row(page, preds, page_fields=()):
    """The prediction that made a page's field values: the latest one the page's values still name
    (``PageField.prediction_id``: values nobody changed, or only accepted), else the latest one
    with fields made before the page was done (a later one, on a finished page, changes nothing
    on it). None: no engine predicted fields on the page."""
    with_fields = [p for p in preds if json.loads(p["fields"] or "[]")]
    made = {f.prediction_id for f in page_fields if f.prediction_id is not None}
    named = [p for p in with_fields if p["id"] in made]
    if named:
        return named[-1]
    done_at = page["done_at"] if page is not None else None
    before = [p for p in with_fields if not done_at or p["created_at"] <= done_at]
    return before[-1] if before else None


def page_field_verdicts_now(store, page_id: int, page=None):
    """``(prediction row, [FieldVerdict])`` of a page now: the fields of the prediction that made
    its field values against the page's field values (``core.verdicts.compute_field_verdicts``).
    ``(None, [])`` when no prediction of the page has fields."""
    from .fields import FieldValue
    from .verdicts import compute_field_verdicts

    page = page if page is not None else store.page_row(page_id)
    if page is None:
        return None, []
    final = store.page_fields(page_id)
    pred = field_prediction_row(page, store.field_prediction_rows(page_id), final)
    if pred is None:
        return None, []
    predicted = [FieldValue.from_json(d) for d in json.loads(pred["fields"])]
    return pred, compute_field_verdicts(predicted, final, store.fields())


def _refresh_field_verdicts(store, page_id: int, page, day: str, in_hist: bool) -> int:
    """Rewrite a page's field verdicts and their share of the running totals (inside
    :func:`_refresh_verdicts`, after the page's ``verdict_state`` row is written)."""
    if store.has_field_verdicts(page_id):  # (a page without any writes nothing here)
        if store.fields_in_totals(page_id):
            store.add_fields_to_totals(page_id, -1)
        store.delete_field_verdicts(page_id)
    pred, verdicts = page_field_verdicts_now(store, page_id, page)
    marks = store.field_verdict_marks(page_id) if verdicts else {}
    rows, n_wrong = [], 0
    for v in verdicts:
        mark = marks.get(v.name)
        ok = v.right and mark != "wrong"  # a field marked wrong and not yet fixed counts as wrong
        n_wrong += not ok
        rows.append((page_id, pred["id"], pred["engine"], pred["engine_version"], pred["model_version"], v.name,
                     v.kind, int(v.predicted), v.predicted_text or "",
                     None if v.predicted_value is None else str(v.predicted_value), int(v.predicted_absent),
                     v.final_text or "", None if v.final_value is None else str(v.final_value), int(v.final_absent),
                     v.confidence, mark, int(ok), page["done_by"], day))
    if rows:
        store.write_field_verdicts(rows)
    in_totals = bool(in_hist and rows)
    if in_totals:
        store.add_fields_to_totals(page_id, +1)
    store.write_field_verdict_state(page_id, n_wrong, in_totals)
    return len(rows)


def field_verdicts(store, page_id: int) -> list:
    """A page's stored field verdicts (rows: name, kind, predicted_text, final_text, confidence,
    mark, ok...), as the last refresh left them."""
    return store.field_verdict_rows(page_id)


def mark_field(store, user: str, page_id: int, name: str, mark: str | None) -> None:
    """A reviewer's explicit mark on a page's predicted field: ``correct``, ``wrong`` or None
    (clear), as :func:`mark_region` on a region: the verdict stays derived from the field values
    (fix the value to change it); a field marked wrong and not yet fixed counts as wrong."""
    require_role(store, user, "review")
    if mark not in (None, "correct", "wrong"):
        raise ValueError("a mark is 'correct', 'wrong' or None")
    store.get_page(page_id)  # NotFoundError: no such page (or one this login may not see)
    from .store import now

    with store.transaction():
        store.set_field_verdict_mark(page_id, name, mark, user, now())
        refresh_verdicts(store, page_id)


def rebuild_totals(store) -> None:
    """Recompute the running totals from the stored verdicts (bulk loads, repairs), in the
    caller's transaction when there is one."""
    with store.transaction():
        store.rebuild_verdict_totals()


def stale_pages(store) -> list[int]:
    """Pages changed since their verdicts were computed (or never computed, and pre-filled)."""
    return store.stale_verdict_pages()


def refresh_stale(store, limit: int | None = None) -> int:
    """Bring stale verdicts up to date (the lazy half of keeping them current); return pages done.

    A project opened read-only is read as it was stored (figures up to its last writer's refresh).
    """
    if getattr(store, "readonly", False):
        return 0
    ids = stale_pages(store)
    if limit is not None:
        ids = ids[:limit]
    for i in range(0, len(ids), 200):  # short transactions: the GUI may be writing meanwhile
        with store.transaction():
            for pid in ids[i:i + 200]:
                refresh_verdicts(store, pid)
    return len(ids)


def mark_region(store, user: str, region_id: int, mark: str | None) -> None:
    """A reviewer's explicit mark on a predicted region: ``correct``, ``wrong`` or None (clear).

    The verdict kind stays derived from the regions (fix, delete or add to change it); the mark
    records who checked it, and a prediction marked wrong but not yet fixed counts as wrong.
    """
    require_role(store, user, "review")
    if mark not in (None, "correct", "wrong"):
        raise ValueError("a mark is 'correct', 'wrong' or None")
    region = store.get_region(region_id)
    from .store import now

    with store.transaction():
        store.set_verdict_mark(region_id, region.page_id, mark, user, now())
        refresh_verdicts(store, region.page_id)


def marks(store, page_id: int) -> dict[int, str]:
    return store.verdict_marks(page_id)


# -- QC routing ------------------------------------------------------------------------------
def _disagreement(store, page_id: int) -> bool:
    """Two engines read the same place differently (overlapping boxes, different text)."""
    preds = store.latest_engine_predictions(page_id)
    if len(preds) < 2:
        return any(d.get("disagree") for p in preds for d in json.loads(p["regions"]))
    a = json.loads(preds[0]["regions"])
    for other in preds[1:]:
        b = json.loads(other["regions"])
        if not a or not b:
            continue
        # Polygon IoU: on a skewed page neighbouring lines' rectangles overlap, their polygons do not.
        m = iou_matrix([d["points"] for d in b], [d["points"] for d in a])
        for k, d in enumerate(b):
            best = int(m[k].argmax())  # the first of equals, as max() did
            if m[k, best] >= DISAGREEMENT_IOU and a[best]["text"].strip() != d["text"].strip():
                return True
    return False


def expected_wrong(store, page_id: int) -> float | None:
    """How many wrong regions the page is expected to hold among the regions whose text the
    machine read and nobody has checked since: ``sum(1 - confidence)`` over its regions that are
    not deleted and have a confidence, leaving out those whose text a person typed or accepted
    (``Store.checked_region_ids``) and those a reviewer marked. None: the page has no such region.
    """
    checked = store.checked_region_ids(page_id) | set(store.verdict_marks(page_id))
    left = [c for rid, c in store.region_confidences(page_id) if rid not in checked]
    return sampling.expected_wrong(left) if left else None


def route_page(store, page_id: int) -> list[str]:
    """Decide whether a page just marked done goes to review, and record why. Returns the reasons.

    Runs inside the caller's transaction when there is one (marking done), else in its own.
    """
    with store.transaction():
        return _route_page(store, page_id)


def _route_page(store, page_id: int) -> list[str]:
    qc = qc_settings(store)
    min_conf = store.min_machine_confidence(page_id)  # the review queue's order
    reasons = sampling.route_reasons(page_id, expected_wrong(store, page_id), _disagreement(store, page_id),
                                     share=qc.share, seed=qc.seed, expected_wrong_max=qc.expected_wrong_max)
    if store.was_rejected(page_id):
        reasons.append("resubmitted")  # a rejected page comes back to the reviewer when redone
    from .store import now

    if not reasons:
        store.drop_from_review(page_id)
        return []
    store.route_to_review(page_id, reasons, now(), store.page_done_by(page_id), qc.blind, qc.seed, qc.share,
                          min_conf)
    return reasons


@dataclass(frozen=True)
class QueueEntry:
    page_id: int
    name: str
    status: str
    reasons: tuple[str, ...]
    routed_at: str
    annotator: str | None  # None when the review is blind for the viewer
    blind: bool
    min_confidence: float | None


def review_queue(store, viewer: str | None = None, include_reviewed: bool = False) -> list[QueueEntry]:
    """Routed pages waiting for a reviewer, lowest confidence first, each with why it is here.

    Blind entries hide the annotator from everyone but an admin.
    """
    admin = viewer is not None and sees_annotators(store, viewer)
    rows = store.review_queue_rows(include_reviewed)
    return [QueueEntry(r["page_id"], r["name"], r["status"], tuple(r["reasons"].split(",")), r["routed_at"],
                       None if r["blind"] and not admin else r["annotator"], bool(r["blind"]), r["min_confidence"])
            for r in rows]


def next_review_page(store, user: str, current: int | None = None) -> int | None:
    """The page ``user`` reviews next: the QC queue's open entries in its order (lowest
    confidence first), after ``current``, wrapping around; never a page ``user`` did. On a team
    project pages another reviewer holds are passed over and the one returned is leased to this
    window (core/lease_store.py), so two reviewers never review the same page; the lease on
    ``current`` ends. None when nothing is left."""
    from .queue import after

    team = store.server is not None
    held = store.leased_by_others(store.client_id) if team else set()
    pages = after(current, [e.page_id for e in review_queue(store, user) if e.status == "done"
                            and e.page_id not in held and store.page_done_by(e.page_id) != user])
    if not team:
        return pages[0] if pages else None
    return store.claim_instead(pages, current, user, "review", ("done",))


# -- hooks the store calls inside its transactions ------------------------------------------
def on_page_done(action, page_id: int) -> None:
    """Marking a page done: fresh verdicts, and the QC routing decision.

    ``action.store`` is the store whose transaction the action runs in: its methods join it.
    """
    store = action.store
    refresh_verdicts(store, page_id)
    route_page(store, page_id)


def on_page_reviewed(action, page_id: int, review_id: int) -> None:
    """A review: close the queue entry, score the annotator, refresh the verdicts."""
    store = action.store
    store.close_review_entry(page_id, action.ts)
    score_annotator(store, page_id, review_id)
    refresh_verdicts(store, page_id)


# -- annotator scores ------------------------------------------------------------------------
@dataclass
class AnnotatorScore:
    regions: int = 0
    changed: int = 0
    edit_distance: int = 0
    ref_chars: int = 0
    iou_sum: float = 0.0
    iou_n: int = 0

    @property
    def cer(self) -> float | None:
        return self.edit_distance / self.ref_chars if self.ref_chars else None

    @property
    def mean_iou(self) -> float | None:
        return self.iou_sum / self.iou_n if self.iou_n else None


def annotator_vs_reviewed(store, page_id: int) -> AnnotatorScore:
    """Compare what the annotator handed in with what the page is now, after review.

    The annotator's version of each region is its state before the first change made after the
    page was done by someone else; a region nobody changed since is the annotator's as it is.
    """
    page = store.page_done_row(page_id)
    current = {r.id: r for r in store.page_regions(page_id)}
    first_before: dict[int, dict[str, object]] = {}
    created_after: set[int] = set()
    if page is not None and page["done_at"]:
        for e in store.edits_by_others_since(page_id, page["done_at"], page["done_by"] or ""):
            seen = first_before.setdefault(e["region_id"], {})
            if e["field"] == "region":
                created_after.add(e["region_id"])
            elif e["field"] not in seen:
                seen[e["field"]] = json.loads(e["before"]) if e["before"] is not None else None
    s = AnnotatorScore()
    for rid, r in current.items():
        before = first_before.get(rid, {})
        was_deleted = bool(before.get("deleted", r.deleted)) or rid in created_after
        ann_text = str(before.get("text", r.text) or "")
        ann_points = before.get("points", r.points)
        if was_deleted and r.deleted:
            continue
        s.regions += 1
        if was_deleted:  # the reviewer added (or restored) it: the annotator missed all of it
            s.changed += 1
            s.edit_distance += len(r.text)
            s.ref_chars += len(r.text)
            continue
        if r.deleted:  # the reviewer deleted it: all of the annotator's text was wrong
            s.changed += 1
            s.edit_distance += len(ann_text)
            continue
        d = levenshtein(ann_text, r.text)
        s.edit_distance += d
        s.ref_chars += len(nfc(r.text))
        if before:
            s.changed += 1
        s.iou_sum += box_iou(ann_points, r.points)  # of the polygons
        s.iou_n += 1
    return s


def score_annotator(store, page_id: int, review_id: int) -> AnnotatorScore | None:
    """Score the page's annotator from a review's corrections and store the score (in the
    review's transaction when there is one)."""
    with store.transaction():
        review = store.review_row(review_id)
        annotator = store.page_done_by(page_id)
        if review is None or not annotator:
            return None
        s = annotator_vs_reviewed(store, page_id)
        store.write_annotator_score(review_id, page_id, annotator, review["reviewer"], s.regions, s.changed,
                                    s.edit_distance, s.ref_chars, s.iou_sum, s.iou_n, review["created_at"])
        return s


def last_rejection(store, page_id: int):
    """The latest review of a page when it rejected it (the comment the annotator must see), else None."""
    reviews = store.reviews(page_id)
    return reviews[-1] if reviews and reviews[-1].verdict == "rejected" else None


# -- auto-accept -----------------------------------------------------------------------------
#: How sure auto-accept must be that the target precision holds: the threshold is chosen so that
#: the one-sided 95% lower bound of the precision (Wilson score) reaches the target, not merely
#: the precision measured. 26 right out of 26 measures 100% yet proves only ~91%: it accepts
#: nothing; reaching 99.5% takes some 540 checked regions without a single error.
CONFIDENCE_Z = 1.645


def precision_lower_bound(correct: int, n: int, z: float = CONFIDENCE_Z) -> float:
    """One-sided lower confidence bound of a proportion ``correct / n`` (Wilson score interval).

    >>> round(precision_lower_bound(26, 26), 3), round(precision_lower_bound(990, 1000), 4)
    (0.906, 0.9833)
    """
    if n <= 0:
        return 0.0
    p = correct / n
    z2 = z * z
    centre = p + z2 / (2 * n)
    spread = z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n))
    return max(0.0, (centre - spread) / (1 + z2 / n))


@dataclass(frozen=True)
class AutoAccept:
    threshold: float | None  # accept regions with confidence >= threshold; None: no threshold reaches the target
    precision: float | None  # of the regions at or above it, as measured
    share_saved: float  # of all regions, accepted without a person
    accepted: int
    total: int
    target_precision: float = 0.995
    #: The precision it is 95% sure of (:func:`precision_lower_bound`): what reaches the target.
    precision_low: float | None = None


def choose_threshold(confidences_and_correct: Iterable[tuple[float, bool]],
                     target_precision: float = 0.995) -> AutoAccept:
    """The lowest confidence threshold whose accepted regions are correct at ``target_precision``,
    with 95% confidence (the lower bound of their precision reaches it, not only the measure).

    Regions are sorted by confidence; walking down, the threshold can stop at each distinct
    confidence. The lowest stop whose precision bound reaches the target saves the most
    work. Regions without a confidence are never auto-accepted.

    >>> data = [(0.99, True)] * 900 + [(0.5, False)] * 100
    >>> a = choose_threshold(data, 0.99)
    >>> a.threshold, a.precision, a.share_saved, round(a.precision_low, 4)
    (0.99, 1.0, 0.9, 0.997)
    >>> choose_threshold([(0.99, True)] * 90, 0.99).threshold is None  # too little evidence yet
    True
    """
    counts: dict[float, list[int]] = {}
    total = 0
    for c, ok in confidences_and_correct:
        total += 1
        if c is None:
            continue
        acc = counts.setdefault(float(c), [0, 0])
        acc[0] += 1
        acc[1] += bool(ok)
    return choose_threshold_counts(((c, n, k) for c, (n, k) in counts.items()), target_precision, total)


def choose_threshold_counts(rows: Iterable[tuple[float, int, int]], target_precision: float = 0.995,
                            total: int | None = None) -> AutoAccept:
    """:func:`choose_threshold` on counts: ``(confidence, regions, correct regions)`` per confidence
    (e.g. the 0.001-wide buckets of ``confidence_hist``). ``total`` counts regions without a
    confidence too (default: the sum of ``regions``)."""
    rows = sorted(((float(c), int(n), int(k)) for c, n, k in rows if n > 0), key=lambda t: -t[0])
    total = sum(n for _, n, _ in rows) if total is None else total
    best = AutoAccept(None, None, 0.0, 0, total, target_precision)
    n_sum = k_sum = 0
    for conf, n, k in rows:
        n_sum += n
        k_sum += k
        low = precision_lower_bound(k_sum, n_sum)
        if low >= target_precision:
            best = AutoAccept(conf, k_sum / n_sum, n_sum / total if total else 0.0, n_sum, total, target_precision,
                              low)
    return best


def auto_accept_counts(store, engine: str | None = None, model_version: str | None = None) -> list[tuple[float, int, int]]:
    """``(confidence bucket, regions, correct)`` over pages done or approved, from the running totals."""
    return [(b / 1000, n, k) for b, n, k in store.confidence_buckets(engine, model_version)]


def auto_accept_data(store, engine: str | None = None, model_version: str | None = None,
                     reviewed_only: bool = True) -> list[tuple[float, bool]]:
    """(confidence, correct) for predicted regions on pages people finished (done or approved)."""
    return store.predicted_confidences(engine, model_version, reviewed_only)


# -- the Moderate screen's queries -------------------------------------------------------------
@dataclass
class ModerateFilter:
    """What the Moderate screen shows. Dates are ``YYYY-MM-DD``, both ends included, days of the
    project's time zone (``core.days``)."""

    date_from: str | None = None
    date_to: str | None = None
    date_field: str = "annotated"  # "imported" (the document) or "annotated" (the page marked done)
    status: str | None = None
    annotator: str | None = None
    engine: str | None = None
    model_version: str | None = None  # model_version, else engine_version, of a prediction
    confidence_below: float | None = None
    has_wrong: bool | None = None
    #: Pages with a field verdict other than correct (or a field marked wrong); False: pages with
    #: field verdicts, all right.
    has_wrong_fields: bool | None = None
    #: Pages with a region whose predicted field label people changed (a form's answer made a
    #: question); False: pages with predicted labels, none changed.
    has_wrong_labels: bool | None = None
    routed_only: bool = False
    #: Only pages people finished (done, approved or rejected): what "moderated or not" counts.
    finished_only: bool = False


def _check_viewer(store, viewer: str | None, f: ModerateFilter) -> bool:
    """Moderation is for reviewers and admins; only an admin filters by annotator (blind QC)."""
    if viewer is None:
        return True
    require_viewer(store, viewer)
    admin = sees_annotators(store, viewer)
    if f.annotator and not admin and qc_settings(store).blind:
        from .errors import PermissionDenied

        raise PermissionDenied("reviews are blind: only an admin filters pages by annotator")
    return admin


def moderate_counts(store, f: ModerateFilter | None = None, viewer: str | None = None) -> dict[str, int]:
    """Pages matching the filter: moderated (approved or rejected) against not moderated.

    >>> # moderate_counts(store, ModerateFilter(date_from="2026-11-01")) -> {"moderated": 3, ...}
    """
    f = f or ModerateFilter()
    _check_viewer(store, viewer, f)
    total, moderated, waiting = store.moderate_totals(f, days.zone(store))
    return {"total": total, "moderated": moderated, "not_moderated": total - moderated, "in_queue": waiting}


@dataclass(frozen=True)
class ModeratePage:
    page_id: int
    name: str
    status: str
    annotator: str | None
    done_at: str | None
    imported_at: str
    n_wrong: int
    min_confidence: float | None
    reasons: tuple[str, ...]
    blind: bool
    n_wrong_fields: int = 0
    n_wrong_labels: int = 0


def moderate_pages(store, f: ModerateFilter | None = None, viewer: str | None = None,
                   limit: int | None = 5000) -> list[ModeratePage]:
    """The page list for the filter: routed pages first, then lowest confidence first."""
    f = f or ModerateFilter()
    admin = _check_viewer(store, viewer, f)
    out = []
    for r in store.moderate_rows(f, days.zone(store), limit):
        blind = bool(r["blind"]) and r["reasons"] is not None
        hide = blind and not admin and viewer is not None
        out.append(ModeratePage(r["id"], r["name"], r["status"], None if hide else r["done_by"], r["done_at"],
                                r["imported_at"], r["n_wrong"] or 0, r["min_confidence"],
                                tuple(r["reasons"].split(",")) if r["reasons"] else (), blind,
                                r["n_wrong_fields"] or 0, r["n_wrong_labels"] or 0))
    return out


def filter_choices(store) -> dict[str, list[str]]:
    """Values the filters offer: annotators, engines, model versions."""
    return store.moderation_filter_choices()


def region_verdicts(store, page_id: int) -> dict[int, str]:
    """Region id -> stored verdict kind, for drawing a page's diff."""
    return store.region_verdict_kinds(page_id)


def field_thresholds(store, target_precision: float = 0.995, engine: str | None = None
                     ) -> dict[str, float | None] | None:
    """Each key field's auto-accept threshold at ``target_precision`` (``{name: threshold}``, None
    for a field without enough verdicts yet: :func:`core.analytics.field_auto_accept`, the Wilson
    rule of the regions), or None when the project has no field schema (fields do not gate
    auto-accept then). A form's label (header, question, answer) has no confidence: its threshold
    is 0.0 once all its predictions together are right at the target, else None (it holds the
    pages that have a region labelled so)."""
    if not store.fields():
        return None
    from .analytics import field_auto_accept

    out: dict[str, float | None] = {name: None for name in store.fields()}
    out.update({a.name: a.threshold for a in field_auto_accept(store, target_precision, engine)})
    return out


def apply_auto_accept(store, user: str, threshold: float, engine: str | None = None,
                      dry_run: bool = False, target_precision: float = 0.995,
                      fields: dict[str, float | None] | None = None) -> list[int]:
    """Mark done, without a person, every pre-filled page whose regions all have a confidence
    at or above ``threshold`` (chosen by :func:`choose_threshold` from reviewed data) and, when
    the project has a field schema, whose key field values (if it has any) all have a confidence
    at or above their field's threshold at ``target_precision`` (:func:`field_thresholds`; a
    field with no threshold yet keeps the page for people). ``fields``: those thresholds, when
    the caller has them already.

    Only pages nobody has touched (status pre-filled) with at least one region; with
    ``engine``, only pages whose regions that engine predicted. Each page is one action by
    ``auto-accept`` whose label names who applied it and the threshold, so it can be undone
    and audited; marking done routes the page to QC like any other (the seeded share still
    reviews auto-accepted pages). Admins only, once the project has an admin. Returns the page
    ids (to be) accepted.
    """
    store.require_admin(user)
    if fields is None:
        fields = field_thresholds(store, target_precision, engine)
    ids = store.auto_accept_candidates(threshold, engine, fields)
    if dry_run:
        return ids
    rule = f"confidence >= {threshold:.3f}" + (", each key field at its threshold" if fields is not None else "")
    label = f"auto-accept ({rule}, applied by {user})"
    for page_id in ids:
        with store.action(AUTO_ACCEPT_USER, page_id, label) as a:
            a.set_page_status(page_id, PageStatus.DONE)
    return ids
