"""Live: what other people change in a team project, as they commit it (PostgreSQL LISTEN/NOTIFY).

Every write of the store announces itself inside its transaction (``Store.notify``): PostgreSQL
delivers the announcement to every listening connection when, and only if, it commits. A
:class:`Listener` holds one connection of its own on a daemon thread, waits for announcements on
the project's channel and hands each to a callback (on that thread: a GUI posts it to its own
thread). When the server goes away it says so (``on_state(False)``), retries with a growing pause,
and says so again when it is back (``on_state(True)``), so a window knows to reload what it shows.
"""

from __future__ import annotations

import json
import logging
import threading
from typing import Callable

from .db import ServerLocation

log = logging.getLogger(__name__)

#: Seconds between reconnection attempts: doubling from the first to the last.
RETRY_S = (0.5, 8.0)


class Listener:
    def __init__(self, location: ServerLocation, channel: str, on_change: Callable[[dict], None],
                 on_state: Callable[[bool], None] | None = None, skip_client: str | None = None):
        self.location = location
        self.channel = channel
        self.on_change = on_change
        self.on_state = on_state or (lambda up: None)
        self.skip_client = skip_client
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.connected = threading.Event()

    def start(self) -> "Listener":
        self._thread = threading.Thread(target=self._run, name=f"listen-{self.channel}", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self) -> None:
        import psycopg
        from psycopg import sql

        pause = RETRY_S[0]
        was_up: bool | None = None
        while not self._stop.is_set():
            try:
                with psycopg.connect(self.location.conninfo, autocommit=True, connect_timeout=10,
                                     application_name="proofdesk-live") as conn:
                    conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(self.channel)))
                    pause = RETRY_S[0]
                    self.connected.set()
                    if was_up is not True:
                        if was_up is False:
                            self.on_state(True)
                        was_up = True
                    while not self._stop.is_set():
                        for note in conn.notifies(timeout=0.5):
                            self._deliver(note.payload)
                        conn.execute("SELECT 1")  # notices a dead connection within the wait
            except psycopg.Error as exc:
                self.connected.clear()
                if was_up is not False:
                    log.warning("lost the server %s: %s", self.location.display, exc)
                    self.on_state(False)
                    was_up = False
                self._stop.wait(pause)
                pause = min(pause * 2, RETRY_S[1])

    def _deliver(self, payload: str) -> None:
        try:
            change = json.loads(payload)
        except ValueError:
            return
        if self.skip_client and change.get("client") == self.skip_client:
            return
        try:
            self.on_change(change)
        except Exception:  # a callback's bug must not end listening
            log.exception("live update callback failed")
