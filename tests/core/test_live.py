"""Live updates of a team project: an edit in one store reaches another machine's listener as it
commits, a rolled-back change never does, and the listener says when the server went away."""

from __future__ import annotations

import queue

import pytest

from core.live import Listener
from core.model import Document, Page, box_to_quad
from core.project import Project
from core.store import now


@pytest.fixture
def team_project(pg_database):
    p = Project.create(pg_database + "/proj")
    doc = Document(name="a.png", sha256="sha-a", source="/a.png", kind="image", imported_at=now(),
                   imported_by="t", batch="b")
    p.store.add_document(doc, [Page(document_id=0, page_no=1, name="a", image_sha256="i", width=100, height=80)])
    yield p
    p.close()


def test_an_edit_reaches_another_window_when_it_commits(team_project):
    other = Project.open(team_project.location)  # another machine's window
    got: queue.Queue = queue.Queue()
    listener = Listener(other.server, other.store.channel, got.put, skip_client=other.store.client_id).start()
    try:
        assert listener.connected.wait(30)
        page_id = team_project.store.pages()[0].id
        with pytest.raises(RuntimeError):
            with team_project.store.action("ana", page_id, "add region") as a:
                a.add_region(page_id, box_to_quad(1, 1, 20, 10), "rolled back")
                raise RuntimeError("the action fails: nothing is announced")
        team_project.store.add_region("ana", page_id, box_to_quad(1, 1, 20, 10), "TOTAL")
        change = got.get(timeout=30)
        assert change["kind"] == "edit" and change["page"] == page_id and change["user"] == "ana"
        assert [r.text for r in other.store.regions(page_id)] == ["TOTAL"]  # committed before it was announced
        assert got.empty()  # the rolled-back action said nothing
        other.store.add_region("bob", page_id, box_to_quad(1, 20, 20, 30), "own")  # its own: skipped
        team_project.store.undo("ana", page_id)
        assert got.get(timeout=30)["user"] == "ana"
    finally:
        listener.stop()
        other.close()


def test_the_listener_says_when_the_server_is_gone_and_back(team_project, pg_server):
    import psycopg

    states: queue.Queue = queue.Queue()
    listener = Listener(team_project.server, team_project.store.channel, lambda c: None, states.put).start()
    try:
        assert listener.connected.wait(30)
        with psycopg.connect(pg_server.url(), autocommit=True) as admin:  # what a server restart does to it
            admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name ="
                          " 'proofdesk-live'")
        assert states.get(timeout=30) is False
        assert states.get(timeout=60) is True  # reconnected by itself
    finally:
        listener.stop()


def test_a_store_says_the_server_is_gone_and_reconnects_by_itself(team_project, pg_server):
    import psycopg

    from core.errors import ServerUnavailable

    store = team_project.store
    page_id = store.pages()[0].id
    store.add_region("ana", page_id, box_to_quad(1, 1, 20, 10), "before")
    with psycopg.connect(pg_server.url(), autocommit=True) as admin:  # a restart, for this connection
        admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'proofdesk'"
                      " AND datname = %s", (team_project.server.database,))
    with pytest.raises(ServerUnavailable, match="not saved"):
        store.add_region("ana", page_id, box_to_quad(1, 20, 20, 30), "lost")
    store.add_region("ana", page_id, box_to_quad(1, 40, 20, 50), "after")  # connects again
    assert [r.text for r in store.regions(page_id)] == ["before", "after"]
