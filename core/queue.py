"""The work queue: which page an annotator should open next.

A page needs work while its status is new, pre-filled, in progress or rejected. The order is
a project setting (``queue_order``): ``"import"`` (documents in import order, pages in page
order) or ``"confidence"`` (lowest mean region confidence first, so the worst pre-fills get
human eyes first; pages without any confidence, e.g. not pre-filled yet, come last in import
order).

>>> import tempfile, pathlib
>>> from core.project import Project
>>> store = Project.create(pathlib.Path(tempfile.mkdtemp()) / "q").store
>>> next_page(store) is None
True
"""

from __future__ import annotations

from collections.abc import Iterable

from .errors import NotFoundError
from .model import PageStatus
from .store import Store

#: Statuses of pages that still need an annotator.
QUEUE_STATUSES = (PageStatus.NEW, PageStatus.PREFILLED, PageStatus.IN_PROGRESS, PageStatus.REJECTED)
#: The project setting that picks the order, and its values.
ORDER_SETTING = "queue_order"
ORDERS = ("import", "confidence")
DEFAULT_ORDER = "import"


def queue_order(store: Store) -> str:
    """The project's queue order (``"import"`` when unset or unknown)."""
    return store.get_choice(ORDER_SETTING, ORDERS, DEFAULT_ORDER)


def set_queue_order(store: Store, order: str) -> None:
    store.set_choice(ORDER_SETTING, order, ORDERS, "queue order")


def queue(store: Store, order: str | None = None) -> list[int]:
    """Ids of the pages that need work, in the order they should be done."""
    order = order or queue_order(store)
    return store.pages_needing_work([s.value for s in QUEUE_STATUSES], order)


def next_page(store: Store, current: int | None = None, order: str | None = None,
              exclude: Iterable[int] = (), user: str | None = None) -> int | None:
    """The page to open after ``current``.

    The next page of ``current``'s document comes first while it needs work (page 1 of a PDF
    done, page 2 opens, whatever the queue order). Otherwise: when ``current`` is still in the
    queue (skipped, not done) the page after it in queue order, wrapping around; else (it was
    just marked done) the head of the queue. Pages in ``exclude`` are passed over. None when no
    other page needs work.

    On a team project, with ``user``: pages another window or machine holds are passed over,
    pages assigned to someone else too, and the page returned is leased to ``user`` (this store's
    window), so two annotators never get the same page; the lease on ``current`` ends.
    """
    skip = set(exclude)
    team = user is not None and store.server is not None
    assignees = store.page_assignees() if team else {}
    if team:
        skip |= store.leased_by_others(store.client_id)
        skip |= {p for p, who in assignees.items() if who != user}
    pages = same_document_first(store, current, after(current, [p for p in queue(store, order) if p not in skip]))
    if not team:
        return pages[0] if pages else None
    pages.sort(key=lambda p: assignees.get(p) != user)  # stable: assigned to me first, queue order kept
    return store.claim_instead(pages, current, user, "annotate", tuple(s.value for s in QUEUE_STATUSES))


def after(current: int | None, pages: list[int]) -> list[int]:
    """``pages`` from the one after ``current``, wrapping around (as they are when ``current``
    is not among them)."""
    if current in pages:
        i = pages.index(current)
        return pages[i + 1:] + pages[:i]
    return pages


def same_document_first(store: Store, current: int | None, pages: list[int]) -> list[int]:
    """``pages`` with the later pages of ``current``'s document among them moved to the front,
    in page order; the rest keep their order."""
    if current is None or not pages:
        return pages
    try:
        page = store.get_page(current)
    except NotFoundError:
        return pages
    wanted = set(pages)
    later = [p.id for p in store.pages_of(page.document_id) if p.page_no > page.page_no and p.id in wanted]
    if not later:
        return pages
    first = set(later)
    return later + [p for p in pages if p not in first]
