"""The SQLite store: WAL, atomic writes, the edit log, conflicts, undo/redo, predictions."""

from __future__ import annotations

import datetime as dt
import sqlite3
import time

import pytest

from core.db import database_errors, integrity_errors
from core.errors import ConflictError
from core.model import HUMAN, Document, Page, PageStatus, PredictedRegion, Prediction, box_to_quad
from core.project import Project
from core.store import now

#: The store's behaviour is the same on a project folder and on a team server: each test runs on both.
BOTH_BACKENDS = True


# -- helpers ---------------------------------------------------------------------------------
def add_doc(store, name="a.png", n_pages=1, sha=None) -> int:
    doc = Document(name=name, sha256=sha or f"sha-{name}", source=f"/src/{name}", kind="image",
                   imported_at=now(), imported_by="test", batch="b1")
    pages = [Page(document_id=0, page_no=i, name=f"{name} p.{i}", image_sha256=f"img-{name}-{i}",
                  width=1000, height=800) for i in range(1, n_pages + 1)]
    return store.add_document(doc, pages)


def first_page(store, doc_id: int) -> int:
    return store.query("SELECT id FROM pages WHERE document_id = ? ORDER BY page_no", (doc_id,))[0]["id"]


def count(store, table: str) -> int:
    return store.query(f"SELECT COUNT(*) FROM {table}")[0][0]


def prediction(page_id, boxes, engine="eng", texts=None) -> Prediction:
    texts = texts or [f"t{i}" for i in range(len(boxes))]
    return Prediction(
        page_id=page_id, engine=engine, engine_version="1.0", config={"psm": 3}, config_hash="h1",
        regions=tuple(PredictedRegion(points=box_to_quad(*b), text=t, confidence=0.9)
                      for b, t in zip(boxes, texts, strict=True)),
    )


def page_state(store, page_id):
    """Everything a person can see and change on a page."""
    regions = [(r.id, r.points, r.text, r.label, r.locked) for r in store.regions(page_id)]
    return regions, store.get_page(page_id).status


@pytest.fixture
def page_id(project):
    return first_page(project.store, add_doc(project.store))


# -- the database file -------------------------------------------------------------------------
@pytest.mark.folder_only
def test_project_db_is_wal_with_foreign_keys(project):
    db = project.root / "proofdesk.db"
    assert db.is_file()
    assert project.store.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert project.store.conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    # WAL is a property of the file: a fresh connection sees it too.
    other = sqlite3.connect(db)
    try:
        assert other.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    finally:
        other.close()
    # ... and foreign keys are really enforced on the store's connection.
    with pytest.raises(integrity_errors()):
        with project.store.transaction() as c:
            c.execute("INSERT INTO pages (document_id, page_no, name, image_sha256, width, height,"
                      " created_at, updated_at) VALUES (999, 1, 'x', 'x', 1, 1, 'now', 'now')")


def test_add_document_inserts_document_and_pages_together(project):
    store = project.store
    doc_id = add_doc(store, "three.tif", n_pages=3)
    assert store.get_document(doc_id).page_count == 3
    assert [p.page_no for p in store.pages()] == [1, 2, 3]
    assert {p.document_id for p in store.pages()} == {doc_id}

    # A document whose second page cannot be written leaves nothing behind.
    doc = Document(name="bad.tif", sha256="sha-bad", source="/src/bad.tif", kind="image",
                   imported_at=now(), imported_by="test", batch="b1")
    pages = [Page(document_id=0, page_no=1, name="p1", image_sha256="x", width=10, height=10),
             Page(document_id=0, page_no=1, name="p1 again", image_sha256="y", width=10, height=10)]
    with pytest.raises(integrity_errors()):
        store.add_document(doc, pages)
    assert count(store, "documents") == 1
    assert count(store, "pages") == 3
    assert store.find_document("sha-bad") is None


def test_regions_come_back_in_reading_order(project, page_id):
    store = project.store
    # Inserted shuffled; the second row is slightly skewed (item and price still share a row).
    price = store.add_region("ana", page_id, box_to_quad(600, 104, 700, 124), "9.90")
    title = store.add_region("ana", page_id, box_to_quad(100, 10, 400, 40), "SHOP")
    total = store.add_region("ana", page_id, box_to_quad(100, 200, 300, 220), "TOTAL")
    item = store.add_region("ana", page_id, box_to_quad(100, 100, 300, 120), "MILK")
    gone = store.add_region("ana", page_id, box_to_quad(100, 60, 300, 80), "deleted")
    store.delete_regions("ana", [gone])
    assert [r.id for r in store.regions(page_id)] == [title, item, price, total]
    assert [r.id for r in store.regions(page_id, include_deleted=True)] == [title, gone, item, price, total]


# -- the edit log -------------------------------------------------------------------------------
def test_every_action_writes_an_action_row_and_its_edits(project, page_id):
    store = project.store
    t0 = now()
    rid = store.add_region("ana", page_id, box_to_quad(10, 10, 50, 30), "HELO")
    v = store.get_region(rid).version
    store.update_region("bob", rid, v, text="HELLO", label="company")

    actions = store.query("SELECT * FROM actions ORDER BY id")
    assert [(a["user"], a["page_id"], a["kind"]) for a in actions] == [("ana", page_id, "do"), ("bob", page_id, "do")]
    edits = [e for e in store.edits(page_id) if e["region_id"] is not None]
    assert [(e["action_id"], e["user"], e["region_id"], e["field"], e["before"], e["after"]) for e in edits] == [
        (actions[0]["id"], "ana", rid, "region", None,
         {"points": [[10.0, 10.0], [50.0, 10.0], [50.0, 30.0], [10.0, 30.0]], "text": "HELO", "label": None}),
        (actions[1]["id"], "bob", rid, "text", "HELO", "HELLO"),
        (actions[1]["id"], "bob", rid, "label", None, "company"),
    ]
    for e in edits:
        ts = dt.datetime.fromisoformat(e["ts"])
        assert ts.tzinfo is not None and e["ts"] >= t0
    region = store.get_region(rid)
    assert (region.text, region.label, region.version) == ("HELLO", "company", v + 1)


def test_stale_expected_version_raises_conflict_and_writes_nothing(project, page_id):
    store = project.store
    rid = store.add_region("ana", page_id, box_to_quad(10, 10, 50, 30), "A")
    loaded = store.get_region(rid).version  # both windows loaded this version
    store.update_region("bob", rid, loaded, text="B")  # the other window wins
    n_actions, n_edits = count(store, "actions"), count(store, "edits")

    with pytest.raises(ConflictError, match="bob"):
        store.update_region("ana", rid, loaded, text="C", label="total")
    # An explicit multi-step action fails as a whole too.
    with pytest.raises(ConflictError):
        with store.action("ana", page_id, "two edits") as a:
            a.add_region(page_id, box_to_quad(0, 0, 5, 5), "new")
            a.update_region(rid, loaded, text="D")

    assert (count(store, "actions"), count(store, "edits")) == (n_actions, n_edits)
    assert len(store.regions(page_id, include_deleted=True)) == 1
    r = store.get_region(rid)
    assert (r.text, r.label, r.version) == ("B", None, loaded + 1)


def test_edit_log_is_append_only(project, page_id):
    store = project.store
    store.add_region("ana", page_id, box_to_quad(10, 10, 50, 30), "A")
    with pytest.raises(database_errors(), match="append-only"):
        with store.transaction() as c:
            c.execute("UPDATE edits SET after = '\"forged\"'")
    assert [e["after"]["text"] for e in store.edits(page_id) if e["field"] == "region"] == ["A"]


def test_predictions_are_immutable(project, page_id):
    store = project.store
    pred_id = store.add_prediction(prediction(page_id, [(10, 10, 100, 30)]))
    with pytest.raises(database_errors(), match="immutable"):
        with store.transaction() as c:
            c.execute("UPDATE predictions SET regions = '[]' WHERE id = ?", (pred_id,))
    (p,) = store.predictions(page_id)
    assert [r.text for r in p.regions] == ["t0"]


# -- undo / redo --------------------------------------------------------------------------------
def test_undo_redo_restore_each_step_exactly(project, page_id):
    store = project.store
    a = store.add_region("ana", page_id, box_to_quad(10, 10, 100, 30), "TOTL")
    b = store.add_region("ana", page_id, box_to_quad(10, 50, 100, 70), "ADDR")
    c = store.add_region("ana", page_id, box_to_quad(10, 90, 100, 110), "LINE")

    steps = [
        lambda: store.update_region("ana", a, text="TOTAL"),
        lambda: store.update_region("ana", a, label="total"),
        lambda: store.update_region("ana", b, points=((12, 48), (110, 50), (108, 72), (10, 70))),
        lambda: store.add_region("ana", page_id, box_to_quad(200, 10, 300, 30), "NEW", label="date"),
        lambda: store.delete_regions("ana", [b, c]),
        lambda: store.set_page_status("ana", page_id, PageStatus.DONE),
    ]
    states = [page_state(store, page_id)]
    for step in steps:
        step()
        states.append(page_state(store, page_id))
    assert len({repr(s) for s in states}) == len(states), "every step must change something"

    for i in range(len(steps), 0, -1):
        assert store.can_undo("ana", page_id)
        assert store.undo("ana", page_id) or i == len(steps)  # status-only undo changes no region
        assert page_state(store, page_id) == states[i - 1], f"undo of step {i}"
    assert store.can_redo("ana", page_id)

    for i in range(1, len(steps) + 1):
        store.redo("ana", page_id)
        assert page_state(store, page_id) == states[i], f"redo of step {i}"
    assert not store.can_redo("ana", page_id)

    # Undo and redo are actions in the log like any other.
    kinds = [r["kind"] for r in store.query("SELECT kind FROM actions ORDER BY id")]
    assert kinds.count("undo") == len(steps) and kinds.count("redo") == len(steps)


def test_a_new_action_clears_redo(project, page_id):
    store = project.store
    rid = store.add_region("ana", page_id, box_to_quad(10, 10, 100, 30), "A")
    store.update_region("ana", rid, text="B")
    store.update_region("ana", rid, text="C")
    store.undo("ana", page_id)
    store.undo("ana", page_id)
    assert store.get_region(rid).text == "A"
    assert store.can_redo("ana", page_id)
    store.update_region("ana", rid, label="total")  # a new action
    assert not store.can_redo("ana", page_id)
    assert store.redo("ana", page_id) == []
    assert (store.get_region(rid).text, store.get_region(rid).label) == ("A", "total")
    # Undo now reverts the new action, then the creation.
    store.undo("ana", page_id)
    assert store.get_region(rid).label is None
    store.undo("ana", page_id)
    assert store.regions(page_id) == []


def test_undo_redo_survive_reopening_the_project(project, page_id):
    root = project.location
    rid = project.store.add_region("ana", page_id, box_to_quad(10, 10, 100, 30), "A")
    project.store.update_region("ana", rid, text="B")
    project.store.update_region("ana", rid, text="C")
    project.close()

    p2 = Project.open(root)
    assert p2.store.undo("ana", page_id) == [rid]
    assert p2.store.get_region(rid).text == "B"
    p2.close()

    p3 = Project.open(root)
    try:
        assert p3.store.can_redo("ana", page_id)
        p3.store.undo("ana", page_id)
        assert p3.store.get_region(rid).text == "A"
        p3.store.redo("ana", page_id)
        p3.store.redo("ana", page_id)
        assert p3.store.get_region(rid).text == "C"
        assert not p3.store.can_redo("ana", page_id)
    finally:
        p3.close()


def test_undo_only_touches_the_users_own_actions(project, page_id):
    store = project.store
    rid = store.add_region("ana", page_id, box_to_quad(10, 10, 100, 30), "A")
    other = store.add_region("ana", page_id, box_to_quad(10, 50, 100, 70), "X")
    store.update_region("bob", rid, label="total")
    store.update_region("ana", other, text="Y")
    store.undo("bob", page_id)
    assert (store.get_region(rid).label, store.get_region(other).text) == (None, "Y")
    # Once ana changed the region after bob's action, bob's undo is refused like a stale edit
    # (tests/core/test_hardening_undo.py): it must not silently overwrite her change.
    store.redo("bob", page_id)
    store.update_region("ana", rid, text="B")
    with pytest.raises(ConflictError, match="ana"):
        store.undo("bob", page_id)
    r = store.get_region(rid)
    assert (r.text, r.label) == ("B", "total")


def test_undoing_mark_done_forgets_who_marked_it_done(project, page_id):
    """BUG (core/store.py Action.set_page_status): done_by/done_at survive the undo."""
    store = project.store
    store.add_region("ana", page_id, box_to_quad(10, 10, 100, 30), "A")
    store.set_page_status("ana", page_id, PageStatus.DONE)
    assert store.get_page(page_id).done_by == "ana"
    store.undo("ana", page_id)
    page = store.get_page(page_id)
    assert page.status == PageStatus.IN_PROGRESS
    assert (page.done_by, page.done_at) == (None, None)


def test_undoing_the_first_edit_restores_the_page_status(project, page_id):
    """BUG (core/store.py Action._touch_page): new/prefilled -> in_progress is not in the edit log."""
    store = project.store
    store.add_prediction(prediction(page_id, [(10, 10, 100, 30)]))
    assert store.get_page(page_id).status == PageStatus.PREFILLED
    (r,) = store.regions(page_id)
    store.update_region("ana", r.id, text="FIXED")
    assert store.get_page(page_id).status == PageStatus.IN_PROGRESS
    store.undo("ana", page_id)
    assert store.get_region(r.id).text == "t0"
    assert store.get_page(page_id).status == PageStatus.PREFILLED


# -- predictions and pre-filled regions -----------------------------------------------------------
def test_add_prediction_keeps_touched_regions_and_replaces_untouched_ones(project, page_id):
    store = project.store
    p1 = store.add_prediction(prediction(page_id, [(10, 10, 100, 30), (10, 50, 100, 70), (10, 90, 100, 110)],
                                         engine="old", texts=["T0TAL", "DATE", "JUNK"]))
    assert store.get_page(page_id).status == PageStatus.PREFILLED
    by_text = {r.text: r for r in store.regions(page_id)}
    assert {r.origin for r in by_text.values()} == {"prediction"}
    fixed = by_text["T0TAL"].id
    store.update_region("ana", fixed, text="TOTAL")
    drawn = store.add_region("ana", page_id, box_to_quad(500, 500, 600, 520), "HAND")

    p2 = store.add_prediction(prediction(page_id, [(12, 11, 101, 31), (10, 50, 100, 70), (300, 300, 400, 320)],
                                         engine="new", texts=["TOTAI", "DATE2", "FRESH"]))
    regions = store.regions(page_id, include_deleted=True)
    got = {(r.text, r.origin, r.prediction_id) for r in regions}
    assert got == {
        ("TOTAL", "prediction", p1),  # touched: kept as the person left it
        ("HAND", HUMAN, None),  # drawn by a person: kept
        ("DATE2", "prediction", p2),  # untouched old prediction replaced
        ("FRESH", "prediction", p2),
    }
    assert store.get_region(fixed).text == "TOTAL"
    assert store.get_region(drawn).text == "HAND"
    # Both predictions stay as they were written.
    assert [[r.text for r in p.regions] for p in store.predictions(page_id)] == [
        ["T0TAL", "DATE", "JUNK"], ["TOTAI", "DATE2", "FRESH"]]


def test_add_prediction_does_not_bring_back_a_region_a_person_deleted(project, page_id):
    """BUG (core/store.py add_prediction): ``kept`` ignores deleted (touched) regions."""
    store = project.store
    store.add_prediction(prediction(page_id, [(10, 10, 100, 30), (10, 50, 100, 70)], texts=["TOTAL", "smudge"]))
    smudge = next(r for r in store.regions(page_id) if r.text == "smudge")
    store.delete_regions("ana", [smudge.id])  # a person says: this is not text
    store.add_prediction(prediction(page_id, [(10, 10, 100, 30), (10, 50, 100, 70)], engine="again",
                                    texts=["TOTAL", "smudge"]))
    assert [r.text for r in store.regions(page_id)] == ["TOTAL"]


def test_a_finished_page_keeps_its_regions_when_pre_filled_again(project, page_id):
    """Marking a page done accepts its untouched machine regions too: a later pre-fill (a new
    model, say) stores its prediction for comparison but changes nothing on the page."""
    store = project.store
    store.add_prediction(prediction(page_id, [(10, 10, 100, 30), (10, 50, 100, 70)], texts=["TOTAL", "DATE"]))
    store.set_page_status("ana", page_id, PageStatus.DONE)
    before = store.regions(page_id, include_deleted=True)
    later = store.add_prediction(prediction(page_id, [(10, 10, 100, 30), (300, 300, 400, 320)], engine="better",
                                            texts=["T0TAL", "NEW LINE"]))
    assert store.regions(page_id, include_deleted=True) == before
    assert store.get_page(page_id).status == PageStatus.DONE
    assert [p.id for p in store.predictions(page_id)][-1] == later  # stored all the same
    # A page still being worked on takes the new prediction as before.
    store.set_page_status("ana", page_id, PageStatus.IN_PROGRESS)
    store.add_prediction(prediction(page_id, [(300, 300, 400, 320)], engine="again", texts=["NEW LINE"]))
    assert "NEW LINE" in [r.text for r in store.regions(page_id)]


# -- concurrency ----------------------------------------------------------------------------------
@pytest.mark.folder_only
def test_readers_are_not_blocked_by_an_open_write_transaction(project, page_id):
    store = project.store
    writer = store.conn
    writer.execute("PRAGMA cache_size = 2")  # force the writer to spill pages while it writes
    writer.execute("BEGIN IMMEDIATE")
    try:
        writer.executemany(
            "INSERT INTO settings (key, value) VALUES (?, ?)", [(f"k{i}", '"' + "x" * 2000 + '"') for i in range(300)])
        reader = sqlite3.connect(project.root / "proofdesk.db", timeout=0.5)
        try:
            t0 = time.monotonic()
            n_pages = reader.execute("SELECT COUNT(*) FROM pages").fetchone()[0]
            n_settings = reader.execute("SELECT COUNT(*) FROM settings WHERE key LIKE 'k%'").fetchone()[0]
            assert time.monotonic() - t0 < 0.5
        finally:
            reader.close()
        assert (n_pages, n_settings) == (1, 0)  # committed data, not the transaction in flight
    finally:
        writer.execute("ROLLBACK")
