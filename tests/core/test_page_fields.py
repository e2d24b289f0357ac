"""Key fields (issue 15): a prediction's fields, the page's field values made from them by
pre-fill, and people's changes to them through the edit log (undo, redo, stale versions), on a
project folder and on a team server (where the server enforces who may change them)."""

from __future__ import annotations

import sqlite3

import psycopg
import pytest

from core.db import parse_url
from core.errors import ConflictError, NotFoundError
from core.fields import FieldValue
from core.model import Document, Page, PageStatus, PredictedRegion, Prediction, Role, box_to_quad
from core.project import DB_NAME, Project
from core.store import now
from tests.core.test_team_roles import login, team_server  # noqa: F401  (a fixture)

BOTH_BACKENDS = True

LINES = [("Invoice INV-2026-7", 0.91), ("Date 05.03.2018", 0.88), ("Total 1.234,56 €", 0.93)]


def _page(store, name="inv.png") -> int:
    doc = Document(name=name, sha256=f"sha-{name}", source=f"/src/{name}", kind="image", imported_at=now(),
                   imported_by="ana", batch="b1")
    store.add_document(doc, [Page(document_id=0, page_no=1, name=name, image_sha256=f"img-{name}", width=1000,
                                  height=800)])
    return max(p.id for p in store.pages())


def _prediction(page_id: int, fields, lines=LINES, config_hash="h1") -> Prediction:
    regions = tuple(PredictedRegion(box_to_quad(10, 40 * i, 400, 40 * i + 30), text, conf)
                    for i, (text, conf) in enumerate(lines))
    return Prediction(page_id=page_id, engine="eng", engine_version="1", config={}, config_hash=config_hash,
                      regions=regions, fields=tuple(fields))


FIELDS = (
    FieldValue("invoice_number", "INV-2026-7", "INV-2026-7", None, 0.91, (0,), (8, 18)),
    FieldValue("invoice_date", "05.03.2018", "2018-03-05", None, 0.8, (1,), (5, 15)),
    FieldValue("total", "1.234,56 €", "1234.56", "EUR", 0.93, (2,), (6, 16)),
    FieldValue("due_date", absent=True, confidence=0.7),
)


def test_undo_puts_back_a_confidence_of_any_precision(project):
    store = project.store
    page_id = _page(store)
    store.add_prediction(_prediction(page_id, ()))
    rid = store.regions(page_id)[0].id
    with store.action("ana", page_id, "set field") as a:  # a value as a person's tool may give it
        a.write_field(page_id, "total", {"name": "total", "text": "9", "value": "9.00", "confidence": 0.123456789,
                                         "sources": [rid], "origin": "human", "checked": False,
                                         "confirmed_by": "ana", "prediction_id": None})
    store.check_page_field(page_id, "total", "ana")
    store.undo("ana", page_id)
    assert store.page_field(page_id, "total").value.confidence == 0.123456789


def _state(store, page_id):
    """Everything a person's action may change of a page's fields, by name."""
    return {f.name: (f.value, f.origin, f.checked, f.confirmed_by, f.prediction_id) for f in store.page_fields(page_id)}


@pytest.fixture
def prefilled(project):
    store = project.store
    store.set_fields(["invoice_number", "invoice_date", "due_date", "total"])
    page_id = _page(store)
    pred_id = store.add_prediction(_prediction(page_id, FIELDS))
    return store, page_id, pred_id


# -- the prediction ------------------------------------------------------------------------------------
def test_a_prediction_keeps_its_fields_and_stays_immutable(prefilled):
    store, page_id, pred_id = prefilled
    (pred,) = store.predictions(page_id)
    assert pred.id == pred_id and pred.fields == FIELDS  # sources: indexes into the prediction's regions
    with pytest.raises((sqlite3.DatabaseError, psycopg.Error), match="immutable"):
        with store.transaction() as c:
            c.execute("UPDATE predictions SET fields = '[]' WHERE id = ?", (pred_id,))
    assert store.predictions(page_id)[0].fields == FIELDS


def test_a_prediction_without_fields_reads_back_none(project):
    store = project.store
    page_id = _page(store)
    store.add_prediction(_prediction(page_id, ()))
    assert store.predictions(page_id)[0].fields == ()
    assert store.page_fields(page_id) == []


# -- pre-fill --------------------------------------------------------------------------------------------
def test_prefill_makes_the_page_fields_with_region_ids(prefilled):
    store, page_id, pred_id = prefilled
    by_text = {r.text: r.id for r in store.regions(page_id)}
    fields = store.page_fields(page_id)
    assert [f.name for f in fields] == ["invoice_number", "invoice_date", "due_date", "total"]  # schema order
    got = {f.name: f for f in fields}
    assert got["total"].value == FieldValue("total", "1.234,56 €", "1234.56", "EUR", 0.93,
                                            (by_text["Total 1.234,56 €"],), (6, 16))
    assert got["invoice_number"].value.sources == (by_text["Invoice INV-2026-7"],)
    assert got["invoice_date"].value.value == "2018-03-05"
    assert got["due_date"].absent and got["due_date"].value.sources == ()
    for f in fields:
        assert (f.origin, f.prediction_id, f.checked, f.confirmed_by, f.touched, f.version) == (
            "prediction", pred_id, False, None, False, 1)
    assert store.field_edits(page_id) == []  # pre-fill is not a person's action, as for regions
    assert store.get_page(page_id).status == PageStatus.PREFILLED


def test_a_later_prediction_replaces_the_machines_values_but_never_a_persons(prefilled):
    store, page_id, _ = prefilled
    regions = {r.text: r.id for r in store.regions(page_id)}
    store.set_page_field(page_id, FieldValue("total", "1.234,50 €"), "ana")  # a typed correction
    store.check_page_field(page_id, "invoice_number", "ana")  # accepted as it is
    store.set_field_absent(page_id, "invoice_date", "bob")  # "not on this page"
    mine = _state(store, page_id)
    lines = [("Invoice INV-2026-9", 0.5), ("Date 06.03.2018", 0.5), ("Total 9,99 €", 0.5)]
    second = store.add_prediction(_prediction(page_id, (
        FieldValue("invoice_number", "INV-2026-9", "INV-2026-9", None, 0.5, (0,)),
        FieldValue("invoice_date", "06.03.2018", "2018-03-06", None, 0.5, (1,)),
        FieldValue("total", "9,99 €", "9.99", "EUR", 0.5, (2,)),
        FieldValue("due_date", "01.04.2018", "2018-04-01", None, 0.5, (1,)),
    ), lines=lines, config_hash="h2"))
    after = _state(store, page_id)
    for name in ("total", "invoice_number", "invoice_date"):
        assert after[name] == mine[name], name  # people's data
    assert after["total"][0].sources == (regions["Total 1.234,56 €"],)  # the correction kept its region ...
    assert store.get_region(regions["Total 1.234,56 €"]).text == "Total 1.234,56 €"  # ... and the region stays
    # The machine's value nobody touched is the new prediction's, on the new prediction's region.
    due = store.page_field(page_id, "due_date")
    new_ids = {r.text: r.id for r in store.regions(page_id)}
    assert (due.value.value, due.origin, due.prediction_id) == ("2018-04-01", "prediction", second)
    assert due.value.sources == (new_ids["Date 06.03.2018"],) and due.version == 2


def test_a_prediction_with_no_fields_changes_nothing(prefilled):
    store, page_id, _ = prefilled
    before = _state(store, page_id)
    sources = {i for v in before.values() for i in v[0].sources}
    store.add_prediction(_prediction(page_id, (), lines=[("something else", 0.4)], config_hash="h2"))
    assert _state(store, page_id) == before
    assert sources <= {r.id for r in store.regions(page_id)}  # the regions they name are still there


def test_a_new_prediction_drops_the_machines_values_it_no_longer_has(prefilled):
    store, page_id, _ = prefilled
    store.check_page_field(page_id, "total", "ana")
    store.add_prediction(_prediction(page_id, (FieldValue("invoice_number", "X-1", "X-1", None, 0.6, (0,)),),
                                     config_hash="h2"))
    assert [f.name for f in store.page_fields(page_id)] == ["invoice_number", "total"]
    assert store.page_field(page_id, "total").checked  # a person's: kept


def test_a_done_page_keeps_its_fields(prefilled):
    store, page_id, _ = prefilled
    store.set_page_status("ana", page_id, PageStatus.DONE)
    before = _state(store, page_id)
    store.add_prediction(_prediction(page_id, (FieldValue("total", "1,00", "1.00", None, 0.2, (2,)),),
                                     config_hash="h2"))
    assert _state(store, page_id) == before


# -- people's changes: the edit log, undo, redo ------------------------------------------------------------
def _set(store, page_id, user):
    store.set_page_field(page_id, FieldValue("total", "Total 1.234,50 EUR"), user)


def _check(store, page_id, user):
    store.check_page_field(page_id, "total", user)


def _absent(store, page_id, user):
    store.set_field_absent(page_id, "total", user)


@pytest.mark.parametrize("change", [_set, _check, _absent])
def test_each_change_is_an_edit_and_undo_redo_restore_it_exactly(prefilled, change):
    store, page_id, _ = prefilled
    before = _state(store, page_id)
    n_actions = len(store.query("SELECT id FROM actions"))
    change(store, page_id, "ana")
    after = _state(store, page_id)
    assert after != before and len(store.query("SELECT id FROM actions")) == n_actions + 1
    (edit,) = store.field_edits(page_id)
    assert (edit["user"], edit["field"], edit["region_id"]) == ("ana", "field:total", None)
    assert FieldValue.from_json(edit["before"]) == before["total"][0]
    assert FieldValue.from_json(edit["after"]) == after["total"][0]
    assert after["total"][3] == "ana"  # confirmed by
    assert store.get_page(page_id).status == PageStatus.IN_PROGRESS  # a person's first change, as for regions
    assert store.can_undo("ana", page_id)
    store.undo("ana", page_id)
    assert _state(store, page_id) == before
    assert store.get_page(page_id).status == PageStatus.PREFILLED
    store.redo("ana", page_id)
    assert _state(store, page_id) == after
    store.undo("ana", page_id)
    assert _state(store, page_id) == before
    kinds = [a["kind"] for a in store.query("SELECT kind FROM actions ORDER BY id")]
    assert kinds[-3:] == ["undo", "redo", "undo"]  # undo and redo are audited too


def test_typing_only_text_makes_the_normalised_value(prefilled):
    store, page_id, _ = prefilled
    total_region = store.page_field(page_id, "total").value.sources
    v = store.set_page_field(page_id, FieldValue("total", "Total:  2.000,10 €"), "ana", version=1)
    total = store.page_field(page_id, "total")
    assert v == total.version == 2
    assert (total.text, total.value.value, total.value.currency, total.origin) == (
        "Total: 2.000,10 €", "2000.10", "EUR", "human")
    assert total.value.sources == total_region  # a correction of what was read there
    store.set_page_field(page_id, FieldValue("invoice_date", "5. März 2018"), "ana")
    assert store.page_field(page_id, "invoice_date").value.value == "2018-03-05"
    # A field the page did not have: created, undone away.
    store.set_page_field(page_id, FieldValue("seller", "ACME  GmbH\nBerlin"), "ana")
    assert store.page_field(page_id, "seller").value.value == "ACME GmbH Berlin"
    store.undo("ana", page_id)
    assert store.page_field(page_id, "seller") is None


def test_sources_must_be_regions_of_the_page(prefilled):
    store, page_id, _ = prefilled
    other = _page(store, "other.png")
    rid = store.add_region("ana", other, box_to_quad(0, 0, 10, 10), "x")
    n = len(store.edits())
    with pytest.raises(ValueError, match="not regions of page"):
        store.set_page_field(page_id, FieldValue("total", "1", sources=(rid,)), "ana")
    assert len(store.edits()) == n
    with pytest.raises(NotFoundError):
        store.check_page_field(page_id, "buyer", "ana")  # no such value on the page


@pytest.mark.parametrize("change", [_set, _check, _absent])
def test_a_stale_version_is_refused_and_nothing_is_written(prefilled, change):
    store, page_id, _ = prefilled
    loaded = store.page_field(page_id, "total").version
    store.check_page_field(page_id, "total", "bob", version=loaded)  # another window got there first
    state, n = _state(store, page_id), len(store.edits())
    with pytest.raises(ConflictError, match="field total of page .* changed by bob"):
        if change is _set:
            store.set_page_field(page_id, FieldValue("total", "7"), "ana", version=loaded)
        elif change is _check:
            store.check_page_field(page_id, "total", "ana", version=loaded)
        else:
            store.set_field_absent(page_id, "total", "ana", version=loaded)
    assert _state(store, page_id) == state and len(store.edits()) == n
    # With the current version it goes through.
    store.set_field_absent(page_id, "total", "ana", version=store.page_field(page_id, "total").version)
    assert store.page_field(page_id, "total").absent


def test_undo_is_refused_when_someone_else_changed_the_field_since(prefilled):
    store, page_id, _ = prefilled
    store.set_page_field(page_id, FieldValue("total", "5,00"), "ana")
    store.check_page_field(page_id, "total", "bob")
    state = _state(store, page_id)
    with pytest.raises(ConflictError, match="field total of page .* changed by bob"):
        store.undo("ana", page_id)
    assert _state(store, page_id) == state


def test_an_old_database_is_migrated(tmp_path):
    """A project of the schema before page fields: its predictions read with no fields, and
    pre-fill and people's changes work on it at once."""
    from tests.core.test_schema import applied, make_old_project

    root = tmp_path / "old"
    make_old_project(root, stop_before="0009_page_fields")
    conn = sqlite3.connect(root / DB_NAME, isolation_level=None)
    conn.execute("INSERT INTO pages (document_id, page_no, name, image_sha256, width, height, status, created_at,"
                 " updated_at) VALUES (1, 1, 'old.png', 'img', 100, 80, 'prefilled', 'then', 'then')")
    conn.execute("INSERT INTO predictions (page_id, engine, engine_version, config, config_hash, regions, created_at)"
                 " VALUES (1, 'eng', '1', '{}', 'h', '[{\"points\": [[0,0],[9,0],[9,9],[0,9]], \"text\": \"9.90\","
                 " \"confidence\": 0.9, \"label\": null}]', 'then')")
    conn.close()
    assert "0009_page_fields" not in applied(root)
    p = Project.open(root)
    try:
        assert "0009_page_fields" in applied(root)
        (old,) = p.store.predictions(1)
        assert old.fields == () and [r.text for r in old.regions] == ["9.90"]
        with pytest.raises(sqlite3.DatabaseError, match="immutable"):
            p.store.conn.execute("UPDATE predictions SET fields = '[]'")
        p.store.add_prediction(_prediction(1, (FieldValue("total", "9.90", "9.90", None, 0.9, (2,)),),
                                           config_hash="h2"))
        assert p.store.page_field(1, "total").value.sources == (
            next(r.id for r in p.store.regions(1) if r.text == "Total 1.234,56 €"),)
        p.store.check_page_field(1, "total", "ana")
        assert p.store.page_field(1, "total").checked
    finally:
        p.close()


# -- a team server: the server enforces who changes a page's fields -----------------------------------------
def test_fields_are_protected_by_the_server_like_regions(team_server):  # noqa: F811
    """ana (annotator) changes her page's fields through the server; while her page waits for a
    blind review, bob (another annotator) can change neither its regions nor its fields, through
    the store or with hand-written SQL; the reviewer can."""
    from core import review, team

    url, page_id = team_server
    ana = Project.open(login(url, "ana") + "/acme")
    try:
        rid = ana.store.regions(page_id)[0].id
        ana.store.set_page_field(page_id, FieldValue("total", "TOTAL 9.99", sources=(rid,)), "ana")
        assert ana.store.page_field(page_id, "total").value.value == "9.99"
        ana.store.undo("ana", page_id)
        ana.store.redo("ana", page_id)
    finally:
        ana.close()
    lead = Project.open(login(url, "lead") + "/acme")
    try:
        team.add_member(login(url, "lead") + "/acme", "bob", Role.ANNOTATOR, "bob-pw-4")
        review.set_qc_settings(lead.store, "lead", share=1.0)
        blind = _page(lead.store, "b.png")
    finally:
        lead.close()
    ana = Project.open(login(url, "ana") + "/acme")
    try:
        brid = ana.store.add_region("ana", blind, box_to_quad(1, 1, 50, 20), "Total 5,00")
        ana.store.set_page_field(blind, FieldValue("total", "5,00", sources=(brid,)), "ana")
        ana.store.set_page_status("ana", blind, PageStatus.DONE)  # routed to a blind review
        assert ana.store.page_field(blind, "total").value.value == "5.00"
    finally:
        ana.close()
    bob = Project.open(parse_url(url).with_login("bob", "bob-pw-4").url + "/acme")
    try:
        with pytest.raises(NotFoundError):
            bob.store.update_region("bob", brid, text="x")  # regions: refused ...
        with pytest.raises(NotFoundError):
            bob.store.set_page_field(blind, FieldValue("total", "6,00"), "bob")  # ... and fields alike
        assert bob.store.page_fields(blind) == []  # he does not even see them
    finally:
        bob.close()
    sql = psycopg.connect(parse_url(url).with_login("bob", "bob-pw-4").conninfo, autocommit=True)
    try:
        sql.execute("SET search_path TO acme")
        assert sql.execute("UPDATE regions SET text = 'x' WHERE page_id = %s", (blind,)).rowcount == 0
        assert sql.execute("UPDATE page_fields SET text = 'x' WHERE page_id = %s", (blind,)).rowcount == 0
        assert sql.execute("DELETE FROM page_fields WHERE page_id = %s", (blind,)).rowcount == 0
        with pytest.raises(psycopg.Error, match="row-level security"):  # nor log it as ana's
            sql.execute("INSERT INTO edits (action_id, ts, \"user\", page_id, field, before, after)"
                        " SELECT id, 'now', 'ana', page_id, 'field:total', 'null', 'null' FROM actions LIMIT 1")
    finally:
        sql.close()
    rex = Project.open(login(url, "rex") + "/acme")
    try:
        total = rex.store.page_field(blind, "total")
        assert (total.text, total.confirmed_by) == ("5,00", "ana")  # untouched by bob
        rex.store.check_page_field(blind, "total", "rex", version=total.version)  # the reviewer may
        assert rex.store.page_field(blind, "total").confirmed_by == "rex"
    finally:
        rex.close()
