"""Work claimed on a team project: two annotators never get the same page, a lease ends on done,
on close or when it expires, a lead's assignment is honoured, pre-fill machines take batches."""

from __future__ import annotations

import datetime as dt

import pytest

from core.model import Document, Page, PageStatus, Role, box_to_quad
from core.project import Project
from core.queue import next_page
from core.store import now


@pytest.fixture
def team(pg_database):
    """A team project of 6 pages, and two more windows on it (other machines): (lead's, ana's, bob's)."""
    lead = Project.create(pg_database + "/proj")
    doc = Document(name="a.pdf", sha256="sha-a", source="/a.pdf", kind="pdf", imported_at=now(),
                   imported_by="lead", batch="b")
    lead.store.add_document(doc, [Page(document_id=0, page_no=i, name=f"p{i}", image_sha256=f"i{i}", width=100,
                                       height=80) for i in range(1, 7)])
    lead.store.set_user_role("lead", "lead", Role.ADMIN)
    ana, bob = Project.open(lead.location), Project.open(lead.location)
    yield lead, ana, bob
    for p in (ana, bob, lead):
        p.close()


def test_two_annotators_never_get_the_same_page(team):
    _, ana, bob = team
    pages = [p.id for p in ana.store.pages()]
    a1 = next_page(ana.store, user="ana")
    b1 = next_page(bob.store, user="bob")
    assert a1 == pages[0] and b1 == pages[1]
    a2 = next_page(ana.store, current=a1, user="ana")  # skipped: her lease on a1 ends
    assert a2 == pages[2]
    assert bob.store.lease_holder(a1) is None  # free again
    assert next_page(bob.store, current=b1, user="bob") == pages[3]  # after his, past ana's
    assert next_page(bob.store, current=pages[3], user="bob") == pages[4]
    assert ana.store.lease_holder(pages[2]) == "ana" and bob.store.lease_holder(pages[3]) is None


def test_done_and_close_release_and_expiry_returns_pages(team):
    _, ana, bob = team
    a1 = next_page(ana.store, user="ana")
    ana.store.add_region("ana", a1, box_to_quad(1, 1, 20, 10), "x")
    ana.store.set_page_status("ana", a1, PageStatus.DONE)
    assert ana.store.lease_holder(a1) is None  # done: the lease ended with it
    a2 = next_page(ana.store, current=a1, user="ana")
    assert bob.store.lease_holder(a2) == "ana"
    other = Project.open(ana.location)  # a second window of ana's, which she closes
    assert next_page(other.store, current=None, user="ana") not in (a2, None)
    held = other.store.query("SELECT page_id FROM leases WHERE client = ?", (other.store.client_id,))
    other.close()  # closing releases what it held
    assert bob.store.query("SELECT COUNT(*) FROM leases WHERE page_id = ?", (held[0][0],))[0][0] == 0
    ana.store.release_leases(ana.store.client_id)
    assert next_page(bob.store, user="bob") == a2
    # a laptop shut with a page open: its lease runs out and the page is someone else's
    past = (dt.datetime.now(dt.timezone.utc) - dt.timedelta(seconds=1)).isoformat()
    with bob.store.transaction() as c:
        c.execute("UPDATE leases SET expires_at = ?", (past,))
    assert next_page(ana.store, user="ana") == a2


def test_a_lead_assigns_pages_to_a_person(team):
    lead, ana, bob = team
    pages = [p.id for p in lead.store.pages()]
    lead.store.assign_pages("lead", [pages[4]], "bob")
    assert next_page(bob.store, user="bob") == pages[4]  # his first
    seen = set()
    cur = None
    for _ in range(6):
        cur = next_page(ana.store, current=cur, user="ana")
        seen.add(cur)
    assert pages[4] not in seen  # never offered to anyone else


def test_pre_fill_machines_take_disjoint_batches(team):
    _, ana, bob = team
    a = ana.store.claim_batch("box-1", ana.store.client_id, "prefill", ["new"], 4)
    b = bob.store.claim_batch("box-2", bob.store.client_id, "prefill", ["new"], 4)
    assert len(a) == 4 and len(b) == 2 and not set(a) & set(b)
    assert bob.store.claim_batch("box-2", bob.store.client_id, "prefill", ["new"], 4) == []  # none left


def test_two_reviewers_never_get_the_same_qc_page(team):
    from core import review

    lead, ana, bob = team
    lead.store.set_user_role("lead", "rex", Role.REVIEWER)
    lead.store.set_user_role("lead", "val", Role.REVIEWER)
    review.set_qc_settings(lead.store, "lead", share=1.0)  # every done page is reviewed
    pages = [p.id for p in lead.store.pages()]
    for pid in pages[:3]:
        ana.store.add_region("ana", pid, box_to_quad(1, 1, 20, 10), "x")
        ana.store.set_page_status("ana", pid, PageStatus.DONE)
    queued = [e.page_id for e in review.review_queue(lead.store) if e.status == "done"]
    assert queued, "marking done routed pages to QC"
    rex, val = Project.open(lead.location), Project.open(lead.location)
    try:
        r1 = review.next_review_page(rex.store, "rex")
        v1 = review.next_review_page(val.store, "val")
        assert r1 is not None and r1 != v1
        assert review.next_review_page(ana.store, "ana") is None  # her own pages only: none for her
        rex.store.review_page("rex", r1, "approved")
        assert rex.store.lease_holder(r1) is None
    finally:
        rex.close()
        val.close()


def test_assign_from_the_command_line(team, capsys):
    from app.cli import main

    lead, _, _ = team
    url = str(lead.location)
    assert main(["assign", url, "--to", "bob", "--pages", "2-3"]) == 0  # as the URL's login, a superuser
    assert "2 page(s) assigned to bob" in capsys.readouterr().out
    assert lead.store.page_assignees() == {2: "bob", 3: "bob"}
    assert main(["assign", url, "--to", "bob", "--pages", "99"]) == 1
    assert "no such page" in capsys.readouterr().err


def test_a_page_finished_after_the_queue_was_read_is_not_handed_out(team):
    """The queue is read before the claim: a page someone marked done in between (their lease
    ended with it) must not be claimed (found by the 20-client benchmark under load)."""
    _, ana, bob = team
    a1 = next_page(ana.store, user="ana")
    stale_queue = [p.id for p in bob.store.pages()]  # what bob's window read before ana finished
    ana.store.add_region("ana", a1, box_to_quad(1, 1, 20, 10), "x")
    ana.store.set_page_status("ana", a1, PageStatus.DONE)
    got = bob.store.claim_first(stale_queue, "bob", bob.store.client_id, "annotate",
                                ("new", "prefilled", "in_progress", "rejected"))
    assert got != a1 and got == stale_queue[1]
