"""Analytics: how fast and how well each annotator works, how good each engine and model version is.

Everything is computed from data the app already keeps, with no extra labelling:

- per annotator, from the edit log (``edits``): active hours (the gaps between a person's
  consecutive edits, each capped at ``IDLE_GAP_S`` so a lunch break is not work), pages done and
  regions touched per hour; from the stored verdicts: the edit rate (share of predicted regions
  on their pages they changed); from reviews and ``annotator_scores``: the rejection rate, and
  the CER and box IoU of their work against what the reviewer left;
- per engine and model version, from the stored verdicts: precision, recall, CER and typing
  saved, in total and per day. Precision and recall are of the boxes (a predicted region kept,
  whatever its text, against the regions people left); CER and typing saved are of the text;
- QC routing: the share of the pages people finished that went to review, and per reason
  (:func:`qc_routing`);
- key fields (issue 15), from the stored field verdicts' running totals: accuracy per field (right
  / predicted), per engine and model version and per day (:func:`field_report`), and per field
  the auto-accept threshold at a target precision, by the regions' Wilson rule
  (:func:`field_auto_accept`).

Dates are ``YYYY-MM-DD`` and both ends are included; a day is a day of the project's time zone
(``core.days``): the per-day figures are kept in that zone (:func:`sync_days` recomputes them when
it changes) and a range of timestamps is compared as UTC instants. Reading analytics needs the
review role (reviewers, admins): :func:`require_analytics`.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

from . import days as _days
from .review import require_viewer
from .verdicts import CORRECT, KINDS, MISSING, WRONG_BOX, WRONG_TEXT, summarize_counts

#: A gap between two edits longer than this (seconds) is a break, counted as this long.
IDLE_GAP_S = 300.0
#: Below this much active time (seconds) per-hour rates are not shown: a few scripted edits a
#: millisecond apart would read as thousands of pages an hour.
MIN_ACTIVE_S = 60.0
#: Over- and under-performers: combined z-score at least this far from the team.
FLAG_Z = 1.0
#: ... among at least this many annotators with figures.
FLAG_MIN_PEOPLE = 3


def require_analytics(store, user: str) -> None:
    """Analytics are for reviewers and admins; an annotator is refused (core enforced)."""
    require_viewer(store, user)


ACTIVITY_MARK = "activity_edit_id"


def activity_span(store) -> tuple[str | None, str | None]:
    """The first and last day with recorded activity (None, None when there is none)."""
    return store.activity_span()


def refresh_activity(store, idle_gap_s: float = IDLE_GAP_S) -> int:
    """Bring ``activity_daily`` up to the end of the edit log; return the (person, day) rows redone.

    Only days that got new edits since the last call are recomputed, from that day's edits: the
    gaps between a person's consecutive edits, each capped at ``idle_gap_s``. Days are those of
    the zone the stored per-day figures are in (:func:`core.days.days_zone`).
    """
    if getattr(store, "readonly", False):  # read as stored
        return 0
    last = int(store.get_setting(ACTIVITY_MARK, 0) or 0)
    top = store.last_edit_id()
    if top <= last:
        return 0
    with store.transaction():
        tz = _days.days_zone(store)
        minutes = store.edit_minutes_since(last)
        n = 0
        for day in sorted(_days.local_days_of_minutes(minutes, tz)):
            lo, hi = _days.utc_bounds(day, day, tz)
            n += store.recompute_activity_day(day, lo, hi, idle_gap_s)
        store.set_setting(ACTIVITY_MARK, int(top))  # stored as the number's text, as before
    return n


def sync_days(store) -> bool:
    """Make the stored per-day figures days of the project's time zone; True when they were redone.

    They are kept in one zone (``days_time_zone``); when the project's zone differs (the setting
    changed, or it is unset and this machine is in another zone), every stored verdict gets the
    day of its page in the new zone, the daily totals are summed again and the activity per day
    is recomputed from the edit log, in one transaction. Seconds on a big project, once.
    """
    want = _days.zone_name(store)
    if store.get_setting(_days.DAYS_ZONE_SETTING, _days.LEGACY_DAYS_ZONE) == want:
        return False
    if getattr(store, "readonly", False):
        return False  # a project opened read-only keeps the days it has
    from .review import rebuild_totals

    tz = _days.get_zone(want)
    with store.transaction():
        new_days = [(_days.local_day(ts, tz), pid) for pid, ts in store.verdict_page_times() if ts]
        store.set_verdict_days(new_days)
        rebuild_totals(store)  # joins this transaction (as every store write below does)
        store.clear_activity()
        for key, value in ((ACTIVITY_MARK, "0"), (_days.DAYS_ZONE_SETTING, want)):
            store.set_setting(key, value)
        refresh_activity(store)
    return True


@dataclass
class AnnotatorStats:
    annotator: str
    pages_done: int = 0
    regions_touched: int = 0
    edits: int = 0
    active_hours: float = 0.0
    pages_per_hour: float | None = None
    regions_per_hour: float | None = None
    predicted_regions: int = 0
    edit_rate: float | None = None  # share of predicted regions on their pages they changed
    reviews: int = 0
    rejections: int = 0
    rejection_rate: float | None = None
    cer_vs_reviewers: float | None = None
    iou_vs_reviewers: float | None = None
    flag: str = ""  # "over", "under" or ""

    def as_dict(self) -> dict:
        return asdict(self)


def annotator_stats(store, date_from: str | None = None, date_to: str | None = None,
                    idle_gap_s: float = IDLE_GAP_S) -> list[AnnotatorStats]:
    sync_days(store)
    lo, hi = _days.day_bounds(date_from, date_to)  # the stored per-day figures
    t_lo, t_hi = _days.utc_bounds(date_from, date_to, _days.zone(store))  # timestamps
    people: dict[str, AnnotatorStats] = {}

    def get(name: str) -> AnnotatorStats:
        return people.setdefault(name, AnnotatorStats(name))

    # Active time from the edit log, kept per person and day by refresh_activity.
    refresh_activity(store, idle_gap_s)
    for r in store.activity_totals(lo, hi):
        s = get(r[0])
        s.edits, s.regions_touched, s.active_hours = r[1], r[2], (r[3] or 0.0) / 3600.0
    for r in store.pages_done_per_person(t_lo, t_hi):
        get(r[0]).pages_done = r[1]
    for r in store.annotator_verdict_totals(lo, hi):
        s = get(r[0])
        s.predicted_regions = r[1]
        s.edit_rate = r[2] / r[1] if r[1] else None
    for r in store.annotator_review_totals(t_lo, t_hi):
        s = get(r[0])
        s.reviews, s.rejections = r[1], r[2] or 0
        s.rejection_rate = s.rejections / s.reviews if s.reviews else None
        s.cer_vs_reviewers = r[3] / r[4] if r[4] else None
        s.iou_vs_reviewers = r[5] / r[6] if r[6] else None
    people = {k: v for k, v in people.items() if v.edits or v.pages_done or v.predicted_regions or v.reviews}
    for s in people.values():
        if s.active_hours * 3600 >= MIN_ACTIVE_S:
            s.pages_per_hour = s.pages_done / s.active_hours
            s.regions_per_hour = s.regions_touched / s.active_hours
    out = sorted(people.values(), key=lambda s: s.annotator)
    flag_performers(out)
    return out


def _z(values: dict[str, float]) -> dict[str, float]:
    if len(values) < 2:
        return {k: 0.0 for k in values}
    mean = sum(values.values()) / len(values)
    sd = math.sqrt(sum((v - mean) ** 2 for v in values.values()) / (len(values) - 1))
    return {k: (v - mean) / sd if sd > 0 else 0.0 for k, v in values.items()}


def flag_performers(stats: list[AnnotatorStats], z: float = FLAG_Z) -> None:
    """Mark over- and under-performers against the team.

    Score = z(regions per hour) - z(CER against reviewers) - z(rejection rate), each over the
    people who have that figure (a missing figure counts as the team average). At least
    ``FLAG_MIN_PEOPLE`` people with a figure are needed to flag anyone.
    """
    speed = {s.annotator: s.regions_per_hour for s in stats if s.regions_per_hour is not None}
    cer = {s.annotator: s.cer_vs_reviewers for s in stats if s.cer_vs_reviewers is not None}
    rej = {s.annotator: s.rejection_rate for s in stats if s.rejection_rate is not None}
    if max(len(speed), len(cer), len(rej)) < FLAG_MIN_PEOPLE:
        return
    zs, zc, zr = _z(speed), _z(cer), _z(rej)
    for s in stats:
        score = zs.get(s.annotator, 0.0) - zc.get(s.annotator, 0.0) - zr.get(s.annotator, 0.0)
        s.flag = "over" if score >= z else ("under" if score <= -z else "")


@dataclass
class EngineStats:
    engine: str
    version: str
    regions: int = 0
    pages: int = 0
    precision: float = 0.0
    recall: float = 0.0
    cer: float = 0.0
    typing_saved: float = 0.0
    counts: dict | None = None

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass
class EngineDay:
    day: str
    engine: str
    version: str
    regions: int
    precision: float
    recall: float
    cer: float
    typing_saved: float


def _verdict_groups(store, lo: str, hi: str):
    return store.verdict_daily_groups(lo, hi)


_EDIT_KINDS = (CORRECT, WRONG_TEXT, WRONG_BOX, MISSING)


def engine_report(store, date_from: str | None = None, date_to: str | None = None
                  ) -> tuple[list[EngineStats], list[EngineDay]]:
    """Per engine and model version: totals over the range, and one point per day."""
    sync_days(store)
    lo, hi = _days.day_bounds(date_from, date_to)
    total: dict[tuple[str, str], list] = {}
    daily: dict[tuple[str, str, str], list] = {}
    pages: dict[tuple[str, str], int] = {}
    for day, engine, version, kind, n, edits, chars in _verdict_groups(store, lo, hi):
        if kind == "page":
            pages[(engine, version)] = pages.get((engine, version), 0) + n
            continue
        for acc in (total.setdefault((engine, version), [{}, 0, 0]),
                    daily.setdefault((day, engine, version), [{}, 0, 0])):
            acc[0][kind] = acc[0].get(kind, 0) + n
            if kind in _EDIT_KINDS:
                acc[1] += edits or 0
                acc[2] += chars or 0
    engines = []
    for (engine, version), (counts, edits, chars) in sorted(total.items()):
        s = summarize_counts(counts, edits, chars)
        engines.append(EngineStats(engine, version, sum(counts.values()), pages.get((engine, version), 0),
                                   s["precision"], s["recall"], s["cer"], s["typing_saved"],
                                   {k: counts.get(k, 0) for k in KINDS}))
    days = []
    for (day, engine, version), (counts, edits, chars) in sorted(daily.items()):
        s = summarize_counts(counts, edits, chars)
        days.append(EngineDay(day, engine, version, sum(counts.values()), s["precision"], s["recall"],
                              s["cer"], s["typing_saved"]))
    return engines, days


# -- key fields (issue 15) ----------------------------------------------------------------------
@dataclass
class FieldStats:
    """One field's figures over a range: overall (``engine``, ``version`` empty), per engine and
    model version, or per day. ``accuracy`` = right / predicted: of the fields the prediction named
    (a value or absent), those people left as predicted (correct, or correctly absent) and no
    reviewer marked wrong. ``missing`` counts final values the prediction did not give (absent, or
    not named at all). A form field (header, question, answer) counts regions: predicted, those
    the prediction gave its label; right, those people left with it; missing, regions people gave
    it that the prediction did not (``core.review_store.label_totals_sql``)."""

    name: str
    engine: str = ""
    version: str = ""
    day: str = ""
    verdicts: int = 0
    predicted: int = 0
    right: int = 0
    accuracy: float | None = None
    correct: int = 0
    correct_absent: int = 0
    wrong: int = 0
    missing: int = 0
    not_on_page: int = 0

    def as_dict(self) -> dict:
        return asdict(self)


def field_report(store, date_from: str | None = None, date_to: str | None = None) -> dict[str, list[FieldStats]]:
    """Field accuracy from the running totals (pages done or approved, days of the project's
    zone): ``{"fields": per field, "models": per engine, model version and field, "days": per day,
    engine, model version and field}``, each list in name (then engine, version, day) order, the
    fields in the project's schema order first."""
    from .verdicts import FIELD_KINDS

    sync_days(store)
    lo, hi = _days.day_bounds(date_from, date_to)
    order = {n: i for i, n in enumerate(store.fields())}
    acc: dict[str, dict[tuple, FieldStats]] = {"fields": {}, "models": {}, "days": {}}
    for day, engine, version, name, kind, n, predicted, ok in store.field_verdict_daily_groups(lo, hi):
        for group, key in (("fields", (name, "", "", "")), ("models", (name, engine, version, "")),
                           ("days", (name, engine, version, day))):
            st = acc[group].get(key)
            if st is None:
                st = acc[group][key] = FieldStats(*key)
            st.verdicts += n or 0
            st.predicted += predicted or 0
            st.right += ok or 0
            if kind in FIELD_KINDS:
                setattr(st, kind, getattr(st, kind) + (n or 0))
            elif kind == "label":  # a form field: regions the prediction gave the label
                st.correct += ok or 0
                st.wrong += (n or 0) - (ok or 0)
            elif kind == "label_missing":  # regions people gave it, the prediction did not
                st.missing += n or 0
    out: dict[str, list[FieldStats]] = {}
    for group, items in acc.items():
        rows = sorted(items.values(), key=lambda f: (f.day, order.get(f.name, len(order)), f.name, f.engine,
                                                     f.version) if group == "days" else
                      (order.get(f.name, len(order)), f.name, f.engine, f.version))
        for f in rows:
            f.accuracy = f.right / f.predicted if f.predicted else None
        out[group] = rows
    return out


@dataclass(frozen=True)
class FieldAutoAccept:
    """The auto-accept threshold of one field (``core.review.choose_threshold_counts``): a page
    whose predicted fields all have a confidence at or above their field's threshold could skip
    people for its fields."""

    name: str
    threshold: float | None  # None: no threshold reaches the target with 95% confidence yet
    precision: float | None
    precision_low: float | None
    accepted: int
    total: int  # predicted fields with a confidence, on pages done or approved
    share_saved: float
    target_precision: float

    def as_dict(self) -> dict:
        return asdict(self)


def field_auto_accept(store, target_precision: float = 0.995, engine: str | None = None,
                      model_version: str | None = None, buckets=None) -> list[FieldAutoAccept]:
    """Per field, the lowest confidence above which its predictions are right at
    ``target_precision`` with 95% confidence (the Wilson lower bound the regions' auto-accept
    uses), from the running histogram of checked pages (done or approved). ``buckets``: what
    ``Store.field_confidence_buckets`` gave, read once (a screen trying several targets)."""
    from .review import choose_threshold_counts

    per: dict[str, list[tuple[float, int, int]]] = {}
    if buckets is None:
        buckets = store.field_confidence_buckets(engine, model_version)
    for name, bucket, n, k in buckets:
        per.setdefault(name, []).append((bucket / 1000, n, k))
    order = {n: i for i, n in enumerate(store.fields())}
    out = []
    for name in sorted(per, key=lambda x: (order.get(x, len(order)), x)):
        a = choose_threshold_counts(per[name], target_precision)
        out.append(FieldAutoAccept(name, a.threshold, a.precision, a.precision_low, a.accepted, a.total,
                                   a.share_saved, target_precision))
    return out


def fields_auto_acceptable(fields, thresholds: dict[str, float | None]) -> bool:
    """Whether a page's predicted fields (``FieldValue``s) could all skip people: each has a
    confidence at or above its field's threshold (``{name: threshold}``; a field without one,
    or a value without a confidence, needs a person)."""
    fields = list(fields)
    return bool(fields) and all(
        f.confidence is not None and thresholds.get(f.name) is not None and f.confidence >= thresholds[f.name]
        for f in fields)


#: The QC reasons in the order they are shown (``core.sampling``, ``resubmitted``: ``core.review``).
ROUTING_REASONS = ("sample", "low_confidence", "disagreement", "resubmitted")


def qc_routing(store, date_from: str | None = None, date_to: str | None = None) -> dict:
    """How many of the pages people finished (done, approved, rejected; marked done in the range)
    went to review, and per reason (a page routed for two reasons counts under each):
    ``{"finished": 40, "routed": 9, "share": 0.225, "reasons": {"sample": {"pages": 4, "share": 0.1}, ...},
    "rules": {"sample_share": 0.1, "expected_wrong_max": 0.5}}`` (the rules as they are now).
    """
    t_lo, t_hi = _days.utc_bounds(date_from, date_to, _days.zone(store))
    finished = routed = 0
    per: dict[str, int] = {r: 0 for r in ROUTING_REASONS}
    for reasons, n in store.routing_counts(t_lo, t_hi):
        finished += n
        if reasons:
            routed += n
            for r in reasons.split(","):
                per[r] = per.get(r, 0) + n
    from .review import qc_settings

    def share(k: int) -> float | None:
        return k / finished if finished else None

    qc = qc_settings(store)
    return {"finished": finished, "routed": routed, "share": share(routed),
            "reasons": {r: {"pages": k, "share": share(k)} for r, k in per.items()},
            "rules": {"sample_share": qc.share, "expected_wrong_max": qc.expected_wrong_max}}


def stats(store, date_from: str | None = None, date_to: str | None = None, viewer: str | None = None) -> dict:
    """Every figure of the Analytics screen (and ``proofdesk stats``), as plain data."""
    if viewer is not None:
        require_analytics(store, viewer)
    from .review import ModerateFilter, auto_accept_counts, choose_threshold_counts, moderate_counts

    _days.parse_range(date_from, date_to)  # a bad date is a message, before anything is read
    engines, days = engine_report(store, date_from, date_to)
    accept = choose_threshold_counts(auto_accept_counts(store))
    fields = field_report(store, date_from, date_to)
    return {
        "from": date_from, "to": date_to, "time_zone": _days.zone_name(store),
        "moderation": moderate_counts(store, ModerateFilter(date_from=date_from, date_to=date_to, finished_only=True)),
        "qc_routing": qc_routing(store, date_from, date_to),
        "annotators": [s.as_dict() for s in annotator_stats(store, date_from, date_to)],
        "engines": [e.as_dict() for e in engines],
        "days": [asdict(d) for d in days],
        "auto_accept": asdict(accept),
        "fields": [f.as_dict() for f in fields["fields"]],
        "field_models": [f.as_dict() for f in fields["models"]],
        "field_days": [f.as_dict() for f in fields["days"]],
        "field_auto_accept": [a.as_dict() for a in field_auto_accept(store, accept.target_precision)],
    }
