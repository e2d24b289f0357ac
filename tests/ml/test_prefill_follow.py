"""Pre-fill across machines (`prefill --follow`): several followers never pre-fill a page twice,
a killed one's pages return to the pool and are finished by another, new imports are picked up."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from core.importer import ImportOptions, import_paths
from core.project import Project
from ml.prefill import follow_prefill

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def team_pages(pg_database, tmp_path, make_image):
    project = Project.create(pg_database + "/proj")
    src = tmp_path / "src"
    src.mkdir()
    for i in range(6):
        (src / f"p{i}.png").write_bytes(make_image(i, size=(200, 120)))
    import_paths(project, [src], ImportOptions(user="lead"))
    yield project
    project.close()


def prediction_counts(project) -> dict[int, int]:
    return {r[0]: r[1] for r in project.store.query("SELECT page_id, COUNT(*) FROM predictions GROUP BY page_id")}


def test_two_followers_share_the_pages_and_pick_up_new_imports(team_pages, tmp_path, make_image):
    other = Project.open(team_pages.location)  # a second machine
    try:
        results = {}

        def run(name, project):
            results[name] = follow_prefill(project, engine="classical", workers=0, batch=1, until_idle=True,
                                           holder=name)

        threads = [threading.Thread(target=run, args=(n, p)) for n, p in (("box-1", team_pages), ("box-2", other))]
        for t in threads:
            t.start()
        for t in threads:
            t.join(300)
        counts = prediction_counts(team_pages)
        assert len(counts) == 6 and set(counts.values()) == {1}  # every page once, none twice
        assert sorted(results["box-1"].done + results["box-2"].done) == sorted(counts)
        assert all(p.status.value == "prefilled" for p in team_pages.store.pages())
        assert team_pages.store.query("SELECT COUNT(*) FROM leases")[0][0] == 0
        # a page imported while a follower waits is picked up (announced on the server)
        cancel = threading.Event()
        follower = threading.Thread(target=lambda: results.__setitem__(
            "waiting", follow_prefill(other, engine="classical", workers=0, batch=1, cancel=cancel, idle_wait_s=600)))
        follower.start()
        new = tmp_path / "new"
        new.mkdir()
        (new / "late.png").write_bytes(make_image(99, size=(200, 120)))
        import_paths(team_pages, [new], ImportOptions(user="lead"))
        deadline = time.monotonic() + 120
        while len(prediction_counts(team_pages)) < 7 and time.monotonic() < deadline:
            time.sleep(0.2)
        cancel.set()
        follower.join(60)
        assert len(prediction_counts(team_pages)) == 7  # well before the 600 s poll: the import woke it
    finally:
        other.close()


def test_a_killed_followers_pages_are_finished_by_another(team_pages):
    """A follower process is killed -9 while it holds pages; after its leases run out another
    machine finishes them, and no page is pre-filled twice."""
    env = dict(os.environ, PROOFDESK_PASSWORD="", PYTHONPATH=str(ROOT))
    code = ("import sys, time; from core.project import Project; from ml import prefill\n"
            "p = Project.open(sys.argv[1]); s = p.store\n"
            "ids = s.claim_batch('doomed', s.client_id, 'prefill', ['new'], 3)\n"
            "print(','.join(map(str, ids)), flush=True); time.sleep(600)\n")
    proc = subprocess.Popen([sys.executable, "-c", code, str(team_pages.location)], stdout=subprocess.PIPE,
                            text=True, env=env)
    try:
        held = [int(x) for x in proc.stdout.readline().strip().split(",")]
        assert len(held) == 3
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(60)
    result = {}
    follower = threading.Thread(target=lambda: result.__setitem__("r", follow_prefill(
        team_pages, engine="classical", workers=0, batch=1, until_idle=True, holder="box-2", idle_wait_s=0.2)))
    follower.start()
    deadline = time.monotonic() + 120
    while len(prediction_counts(team_pages)) < 3 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert set(prediction_counts(team_pages)) == {p.id for p in team_pages.store.pages()} - set(held)
    follower.join(1.0)
    assert follower.is_alive()  # --until-idle waits: the dead one's pages are not done yet
    with team_pages.store.transaction() as c:  # its leases run out (what waiting LEASE_S["prefill"] does)
        c.execute("UPDATE leases SET expires_at = '2000-01-01T00:00:00+00:00' WHERE holder = 'doomed'")
    follower.join(120)
    assert not follower.is_alive() and set(held) <= set(result["r"].done)
    assert set(prediction_counts(team_pages).values()) == {1} and len(prediction_counts(team_pages)) == 6
