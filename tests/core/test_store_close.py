"""Closing a project while a background thread still reads it (a Moderate screen's refresh when
its window closes) interrupts that read instead of pulling the connection from under it."""

from __future__ import annotations

import sqlite3
import threading

from core.project import Project

LONG_QUERY = ("WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 200000000)"
              " SELECT count(*) FROM c")


def test_close_interrupts_another_threads_query(tmp_path):
    project = Project.create(tmp_path / "p")
    store = project.store
    running = threading.Event()
    outcome: dict = {}

    def reader() -> None:
        conn = store.conn  # this thread's own connection
        conn.set_progress_handler(lambda: running.set() and 0, 1000)
        try:
            outcome["rows"] = store.query(LONG_QUERY)
        except sqlite3.OperationalError as exc:
            outcome["error"] = str(exc)

    thread = threading.Thread(target=reader)
    thread.start()
    assert running.wait(60)  # the reader is inside its query
    project.close()
    thread.join(60)
    assert not thread.is_alive()
    assert outcome == {"error": "interrupted"}
    # The main thread's connection is closed as before.
    reopened = Project.open(tmp_path / "p")
    try:
        assert reopened.store.pages() == []
    finally:
        reopened.close()
