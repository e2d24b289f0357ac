"""A team project in the window: signing in, other people's changes as they commit, a lost server.

Each test runs its own database on the session's PostgreSQL server (tests/conftest.py) and waits
on signals or conditions (qtbot.waitUntil), never on fixed sleeps: CI machines are small and busy.
"""

from __future__ import annotations

import time

import psycopg
import pytest
from PIL import Image

from app.main_window import MainWindow
from app.team_dialog import RECENT_TEAM, without_password
from core.db import parse_url
from core.importer import ImportOptions, import_paths
from core.model import PageStatus, box_to_quad
from core.project import Project

#: Generous limits for waits on a loaded 2-core CI machine (the waits end as soon as it is done).
WAIT_MS = 30000


def _pages(folder, n=2):
    folder.mkdir()
    for i in range(n):
        Image.new("RGB", (300 + i, 200), (200, 200 - i * 40, 160)).save(folder / f"p{i}.png")
    return folder


@pytest.fixture
def team_url(pg_database, tmp_path):
    """A team project ``proj`` of two pages, with one region on each; its URL (as the superuser)."""
    url = pg_database + "/proj"
    project = Project.create(url)
    try:
        import_paths(project, [_pages(tmp_path / "src")], ImportOptions(user="lead"))
        for page in project.store.pages():
            project.store.add_region("lead", page.id, box_to_quad(10, 10, 120, 40), f"TOTAL {page.id}")
    finally:
        project.close()
    return url


def _window(qtbot, qsettings, url, user="ana") -> MainWindow:
    window = MainWindow(Project.open(url), user, qsettings)
    qtbot.addWidget(window)
    window.show()
    qtbot.waitUntil(lambda: window.live is not None and window.live.connected.is_set(), timeout=WAIT_MS)
    return window


def _kill_app_connections(pg_server, url, app="proofdesk") -> None:
    """What a server restart or a network cut does to the app's connections (the server stays up)."""
    with psycopg.connect(pg_server.url(), autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s"
                      " AND application_name = %s", (parse_url(url).database, app))


def _text_in_db(url, region_id) -> str:
    other = Project.open(url)
    try:
        return other.store.get_region(region_id).text
    finally:
        other.close()


# -- 1. File > Open team project ------------------------------------------------------------------
def test_open_team_project_signs_in_off_the_gui_thread_and_says_why_it_cannot(qtbot, tmp_path, qsettings, team_url,
                                                                                pg_server):
    local = Project.create(tmp_path / "local")
    window = MainWindow(local, "me", qsettings)
    qtbot.addWidget(window)
    window.show()
    assert qsettings.value("recent_projects") == [str(local.root)]
    bare = without_password(team_url)
    assert pg_server.password not in bare and parse_url(bare).user == "pdadmin"

    dialog = window.open_team_project_dialog()
    assert dialog.password.echoMode() == dialog.password.EchoMode.Password
    dialog.url.setCurrentText(bare)
    assert dialog.login.text() == "pdadmin"  # from the URL
    dialog.password.setText("wrong")
    dialog.start_open()
    assert not dialog.open_button.isEnabled()  # connecting, on a worker
    qtbot.waitUntil(lambda: "password authentication failed" in dialog.status.text(), timeout=WAIT_MS)
    assert dialog.isVisible() and dialog.open_button.isEnabled()
    assert window.project is local

    dialog.url.setCurrentText(bare.replace("/proj", "/nosuch"))
    dialog.password.setText(pg_server.password)
    dialog.start_open()
    qtbot.waitUntil(lambda: "there is no project 'nosuch'" in dialog.status.text(), timeout=WAIT_MS)
    assert dialog.isVisible()

    dialog.url.setCurrentText(bare)
    with qtbot.waitSignal(dialog.opened, timeout=WAIT_MS):
        dialog.start_open()
    assert not dialog.isVisible()
    project = window.project
    assert project.server is not None and window.user == "pdadmin"
    assert window.windowTitle() == f"Proofdesk - {project.where}"
    assert pg_server.password not in window.windowTitle()
    assert window.page_list.model_.rowCount() == 2
    # Remembered without the password; the cache folder is not a recent project folder.
    assert qsettings.value(RECENT_TEAM) == [bare]
    assert str(project.root) not in (qsettings.value("recent_projects") or [])
    assert qsettings.value("last_project") == str(local.root)
    assert all(pg_server.password not in str(qsettings.value(k)) for k in qsettings.allKeys())
    # File > Open recent lists it; choosing it opens the dialog filled in.
    texts = [a.text() for a in window.recent_menu.actions()]
    assert str(local.root) in texts and f"{project.where} ..." in texts
    entry = next(a for a in window.recent_menu.actions() if a.text() == f"{project.where} ...")
    entry.trigger()
    again = window.team_dialog
    assert again.url.currentText() == bare and again.login.text() == "pdadmin" and again.password.text() == ""
    again.reject()
    # A folder project still opens as before, and ends the team project's listener.
    window._open_path(str(local.root))
    assert window.project.server is None and window.live is None and not window.banner.isVisible()


# -- 2. Live: other people's changes ----------------------------------------------------------------
def test_an_edit_in_one_window_reaches_the_other_on_that_page(qtbot, qsettings, team_url):
    ana = _window(qtbot, qsettings, team_url, "ana")
    bob = _window(qtbot, qsettings, team_url, "bob")
    page_id = ana.current_page_id()
    bob.page_list.select_page(page_id)  # both on the same page
    assert bob.current_page_id() == page_id
    region = ana.workspace.list.model_.regions[0]
    started = time.monotonic()
    assert bob.workspace.commit_text(region.id, "TOTAL 99.00")
    qtbot.waitUntil(lambda: ana.workspace.regions[region.id].text == "TOTAL 99.00", timeout=WAIT_MS)
    elapsed = time.monotonic() - started
    print(f"an edit reached the other window in {elapsed * 1000:.0f} ms")
    assert elapsed < 5  # the issue asks for a second; the margin is for a loaded CI machine
    assert ana.workspace.list.model_.regions[0].text == "TOTAL 99.00"
    assert ana.page_view.region_items[0].region.text == "TOTAL 99.00"
    # A change to another page refreshes the list, not the page on screen.
    other_page = next(p.id for p in ana.project.store.pages() if p.id != page_id)
    bob.project.store.add_region("bob", other_page, box_to_quad(5, 60, 90, 80), "more")
    bob.project.store.set_page_status("bob", other_page, PageStatus.DONE)
    row = ana.page_list.model_.row_of(other_page)
    qtbot.waitUntil(lambda: ana.page_list.model_.pages[row].status == PageStatus.DONE, timeout=WAIT_MS)
    assert ana.current_page_id() == page_id
    # A burst of changes is one refresh of the list.
    refreshes = []
    original = ana._refresh_page_list
    ana._refresh_page_list = lambda: (refreshes.append(1), original())
    for _ in range(20):
        ana._on_live_change({"kind": "edit", "page": other_page, "user": "bob"})
    qtbot.waitUntil(lambda: bool(refreshes) and not ana._list_timer.isActive(), timeout=WAIT_MS)
    assert len(refreshes) == 1


def test_the_moderate_screen_shows_a_change_to_its_page(qtbot, qsettings, team_url):
    lead = _window(qtbot, qsettings, team_url, "lead")
    screen = lead.review.open_moderate()
    page_id = lead.current_page_id()
    screen.open_page(page_id)
    shown = []
    original = screen.open_page
    screen.open_page = lambda pid: (shown.append(pid), original(pid))
    other = Project.open(team_url)
    try:
        region = other.store.regions(page_id)[0]
        other.store.update_region("bob", region.id, region.version, text="CHANGED")
        qtbot.waitUntil(lambda: page_id in shown, timeout=WAIT_MS)
        assert "CHANGED" in screen._items[region.id].toolTip() if region.id in screen._items else True
        # A change to a page it does not show leaves it alone.
        elsewhere = next(p.id for p in other.store.pages() if p.id != page_id)
        other.store.add_region("bob", elsewhere, box_to_quad(5, 60, 90, 80), "more")
        qtbot.waitUntil(lambda: lead.page_list.model_.rowCount() == 2 and not lead._list_timer.isActive(),
                        timeout=WAIT_MS)
        assert elsewhere not in shown
    finally:
        other.close()
        screen.close()


# -- 3. and 4. A lost server: the banner, the edits kept and saved ---------------------------------
def test_an_edit_made_while_the_connection_is_lost_is_kept_and_saved(qtbot, qsettings, team_url, pg_server):
    window = _window(qtbot, qsettings, team_url, "ana")
    ws = window.workspace
    region = ws.list.model_.regions[0]
    _kill_app_connections(pg_server, team_url)
    assert ws.commit_text(region.id, "TYPED WHILE LOST")
    # At once: the banner, the count, the region marked, the text still on screen.
    assert window.banner.isVisible()
    assert "lost; reconnecting... 1 change(s) not saved yet" in window.banner.text()
    assert parse_url(team_url).host in window.banner.text()
    assert "not saved yet" in window.statusBar().currentMessage().lower()
    assert len(window.connection.pending) == 1
    assert region.id in ws.list.model_.unsaved
    assert ws.regions[region.id].text == "TYPED WHILE LOST"
    # A second edit of the same region queues behind the first, with the version it will have.
    assert ws.commit_text(region.id, "TYPED TWICE")
    assert "2 change(s) not saved yet" in window.banner.text()
    # The server is up (only the connections died): the retry saves both, in order.
    with qtbot.waitSignal(window.connection.back, timeout=WAIT_MS) as back:
        pass
    assert back.args == [2]
    assert not window.banner.isVisible() and not window.connection.pending and not ws.list.model_.unsaved
    assert _text_in_db(team_url, region.id) == "TYPED TWICE"
    assert ws.regions[region.id].text == "TYPED TWICE"
    assert ws.commit_text(region.id, "AFTER")  # and on it goes, saved at once
    assert _text_in_db(team_url, region.id) == "AFTER"


def test_a_kept_edit_someone_else_overtook_is_reported_and_dropped(qtbot, qsettings, team_url, pg_server):
    window = _window(qtbot, qsettings, team_url, "ana")
    ws = window.workspace
    region = ws.list.model_.regions[0]
    _kill_app_connections(pg_server, team_url)
    assert ws.commit_text(region.id, "MINE")
    other = Project.open(team_url)
    try:
        other.store.update_region("bob", region.id, region.version, text="THEIRS")
    finally:
        other.close()
    qtbot.waitUntil(lambda: not window.connection.lost, timeout=WAIT_MS)
    assert "Not saved: region" in window.statusBar().currentMessage()
    assert "changed by bob" in window.statusBar().currentMessage()
    assert not window.connection.pending and not window.banner.isVisible()
    assert _text_in_db(team_url, region.id) == "THEIRS"
    qtbot.waitUntil(lambda: ws.regions[region.id].text == "THEIRS", timeout=WAIT_MS)


def test_the_listener_losing_the_server_shows_the_banner_until_it_is_back(qtbot, qsettings, team_url, pg_server):
    window = _window(qtbot, qsettings, team_url, "ana")
    with qtbot.waitSignal(window.connection.lostChanged, timeout=WAIT_MS,
                          check_params_cb=lambda lost: lost):
        _kill_app_connections(pg_server, team_url)  # a server restart: the store's connections
        _kill_app_connections(pg_server, team_url, app="proofdesk-live")  # and the listener's
    assert window.banner.isVisible() and "reconnecting..." in window.banner.text()
    qtbot.waitUntil(lambda: not window.banner.isVisible(), timeout=WAIT_MS)
    assert "is back" in window.statusBar().currentMessage()
    # The page on screen and the list were read again, on a new connection.
    assert window.page_list.model_.rowCount() == 2 and window.workspace.regions


def test_a_change_after_a_silent_restart_is_shown_on_a_new_connection(qtbot, qsettings, team_url, pg_server):
    """The server restarted while the window was idle: its connection died unnoticed. The next
    change someone makes is shown all the same (the dead connection is made again), no banner."""
    window = _window(qtbot, qsettings, team_url, "ana")
    region = window.workspace.list.model_.regions[0]
    _kill_app_connections(pg_server, team_url)
    other = Project.open(team_url)
    try:
        other.store.update_region("bob", region.id, region.version, text="AFTER THE RESTART")
    finally:
        other.close()
    qtbot.waitUntil(lambda: window.workspace.regions[region.id].text == "AFTER THE RESTART", timeout=WAIT_MS)
    assert not window.banner.isVisible() and not window.connection.lost


def test_closing_with_edits_not_yet_sent_asks_first(qtbot, qsettings, team_url, monkeypatch):
    from PySide6.QtWidgets import QMessageBox

    window = _window(qtbot, qsettings, team_url, "ana")
    window.connection.pending.append(object())  # an edit waiting for the server
    asked = []

    def answer(choice):
        def warning(parent, title, text, *args):
            asked.append(text)
            return choice
        return warning

    monkeypatch.setattr(QMessageBox, "warning", answer(QMessageBox.StandardButton.Cancel))
    assert window.close() is False and window.isVisible()
    assert "1 change(s) could not reach the server" in asked[0]
    monkeypatch.setattr(QMessageBox, "warning", answer(QMessageBox.StandardButton.Discard))
    assert window.close() is True


def test_on_a_team_project_the_user_is_the_login(qtbot, qsettings, team_url):
    window = _window(qtbot, qsettings, team_url, "ana")
    window.review.switch_user("rex")
    assert window.user == "ana"
    assert "work as your login" in window.statusBar().currentMessage()


def test_a_lead_assigns_pages_from_the_page_list(qtbot, qsettings, team_url):
    from core.model import Role

    window = _window(qtbot, qsettings, team_url, "lead")
    window.project.store.set_user_role("lead", "lead", Role.ADMIN)
    page = window.project.store.pages()[1]
    window.page_list.select_page(page.id)
    assert window.assign_action in window.page_list.actions()
    assert window.assign_dialog("bob")
    assert window.project.store.get_page(page.id).assignee == "bob"
    assert "assigned to bob" in window.page_list.model_.data(
        window.page_list.model_.index(window.page_list.model_.row_of(page.id), 0),
        __import__("PySide6.QtCore", fromlist=["Qt"]).Qt.ItemDataRole.ToolTipRole)
