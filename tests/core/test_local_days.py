"""Analytics days and date filters are days of the project's time zone, not UTC days.

Work at 07:30 in Singapore is 23:30 UTC the day before: it must count on the Singapore day,
in the per-day figures and in every "between these two dates" filter.
"""

from __future__ import annotations

import datetime as dt

import pytest

from app.cli import main
from core import analytics, days
from core.model import PageStatus, PredictedRegion, Prediction, Role, box_to_quad
from core.project import Project
from core.review import ModerateFilter, moderate_counts, moderate_pages
from tests.core.test_store import add_doc, first_page

#: The store's behaviour is the same on a project folder and on a team server: each test runs on both.
BOTH_BACKENDS = True

SINGAPORE_EARLY = "2026-11-29T23:30:00.000000+00:00"  # 2026-11-30 07:30 in Singapore (UTC+8)


def _clock(monkeypatch, ts: str) -> None:
    import core.store
    import tests.core.test_store

    monkeypatch.setattr(core.store, "now", lambda: ts)
    monkeypatch.setattr(tests.core.test_store, "now", lambda: ts)  # add_doc's import time


def _work_at(monkeypatch, store, ts: str, name: str = "a.png") -> int:
    """A page imported, pre-filled, edited by ana and marked done, all at ``ts``. Its id."""
    _clock(monkeypatch, ts)
    page_id = first_page(store, add_doc(store, name))
    store.add_prediction(Prediction(page_id, "classical", "v1", {}, "h1",
                                    (PredictedRegion(box_to_quad(10, 10, 200, 40), "TOTL", 0.9),)))
    store.update_region("ana", store.regions(page_id)[0].id, text="TOTAL")
    store.set_page_status("ana", page_id, PageStatus.DONE)
    monkeypatch.undo()
    return page_id


def _figures(store, day: str) -> dict:
    out = analytics.stats(store, day, day)
    ana = {a["annotator"]: a for a in out["annotators"]}.get("ana")
    return {"edits": ana["edits"] if ana else 0, "pages_done": ana["pages_done"] if ana else 0,
            "engine_days": sorted({d["day"] for d in out["days"]}),
            "engine_regions": sum(e["regions"] for e in out["engines"]),
            "annotated": out["moderation"]["total"],
            "imported": moderate_counts(store, ModerateFilter(day, day, date_field="imported"))["total"]}


NOTHING = {"edits": 0, "pages_done": 0, "engine_days": [], "engine_regions": 0, "annotated": 0, "imported": 0}


def test_work_before_8_in_singapore_counts_on_the_singapore_day(project, monkeypatch):
    store = project.store
    _work_at(monkeypatch, store, SINGAPORE_EARLY)
    days.set_time_zone(store, "Asia/Singapore")
    on_30 = _figures(store, "2026-11-30")
    assert on_30 == {"edits": 3, "pages_done": 1, "engine_days": ["2026-11-30"], "engine_regions": 1,
                     "annotated": 1, "imported": 1}
    assert _figures(store, "2026-11-29") == NOTHING
    assert analytics.stats(store)["time_zone"] == "Asia/Singapore"
    assert [p.page_id for p in moderate_pages(store, ModerateFilter("2026-11-30", "2026-11-30"))] == [1]

    days.set_time_zone(store, "UTC")  # the same work, counted in UTC: the stored days follow
    assert _figures(store, "2026-11-29") == on_30 | {"engine_days": ["2026-11-29"]}
    assert _figures(store, "2026-11-30") == NOTHING

    days.set_time_zone(store, "UTC+08:00")  # a fixed offset (a machine without zone names)
    assert _figures(store, "2026-11-30") == on_30


def test_new_work_after_a_zone_change_lands_on_the_zone_day(project, monkeypatch):
    store = project.store
    days.set_time_zone(store, "Asia/Singapore")
    analytics.stats(store)  # the stored days are now Singapore days
    _work_at(monkeypatch, store, SINGAPORE_EARLY)  # written after: verdicts and activity in that zone
    assert _figures(store, "2026-11-30")["engine_days"] == ["2026-11-30"]
    assert _figures(store, "2026-11-30")["edits"] == 3


def test_berlin_daylight_saving_edges(project, monkeypatch):
    store = project.store
    days.set_time_zone(store, "Europe/Berlin")
    berlin = days.zone(store)
    # 29 March 2026: clocks go 02:00 -> 03:00, a 23-hour day; 25 October: a 25-hour day.
    assert days.utc_bounds("2026-03-29", "2026-03-29", berlin) == ("2026-03-28T23:00:00", "2026-03-29T22:00:00")
    assert days.utc_bounds("2026-10-25", "2026-10-25", berlin) == ("2026-10-24T22:00:00", "2026-10-25T23:00:00")
    _work_at(monkeypatch, store, "2026-10-24T22:30:00.000000+00:00", "a.png")  # 00:30 CEST, the 25th
    _work_at(monkeypatch, store, "2026-10-25T22:59:59.000000+00:00", "b.png")  # 23:59:59 CET, the 25th
    _work_at(monkeypatch, store, "2026-10-25T23:00:00.000000+00:00", "c.png")  # 00:00 CET, the 26th
    _work_at(monkeypatch, store, "2026-03-28T23:30:00.000000+00:00", "d.png")  # 00:30 CET, 29 March
    assert _figures(store, "2026-10-24") == NOTHING
    assert _figures(store, "2026-10-25") | {"edits": 0} == {
        "edits": 0, "pages_done": 2, "engine_days": ["2026-10-25"], "engine_regions": 2, "annotated": 2, "imported": 2}
    assert _figures(store, "2026-10-26")["annotated"] == 1
    assert _figures(store, "2026-03-29")["engine_days"] == ["2026-03-29"]
    out = analytics.stats(store, "2026-10-24", "2026-10-26")
    assert [d["day"] for d in out["days"]] == ["2026-10-25", "2026-10-26"]


def test_singapore_bounds_and_local_day():
    sg = days.get_zone("Asia/Singapore")
    assert days.utc_bounds("2026-11-30", "2026-11-30", sg) == ("2026-11-29T16:00:00", "2026-11-30T16:00:00")
    assert days.utc_bounds(None, None, sg) == ("0000", "9999")
    assert days.local_day(SINGAPORE_EARLY, sg) == "2026-11-30"
    assert days.local_day(SINGAPORE_EARLY, days.get_zone("UTC")) == "2026-11-29"
    assert "2026-11-29T16:00:00" <= SINGAPORE_EARLY < "2026-11-30T16:00:00"


def test_time_zone_names_are_validated(project):
    store = project.store
    for bad in ("Mars/Olympus_Mons", "asia/singapore", "Asia", "", "../etc/passwd", "UTC+25:00", "GMT+8 "):
        with pytest.raises(days.TimeZoneError, match="is not a time zone"):
            days.get_zone(bad)
    with pytest.raises(days.TimeZoneError):
        days.set_time_zone(store, "Mars/Olympus_Mons")
    assert store.get_setting(days.TIME_ZONE_SETTING) is None
    assert days.set_time_zone(store, "Asia/Singapore") == "Asia/Singapore"
    assert days.set_time_zone(store, None) == days.machine_zone()  # cleared: this machine's zone


def test_unset_zone_is_the_machines(project, monkeypatch):
    monkeypatch.setenv("TZ", "Asia/Singapore")
    assert days.machine_zone() == "Asia/Singapore"
    assert days.zone_name(project.store) == "Asia/Singapore"
    monkeypatch.setenv("TZ", "Nowhere/Special")  # not a name: the system's zone, never an error
    assert days.get_zone(days.machine_zone()) is not None
    project.store.set_setting(days.TIME_ZONE_SETTING, "Nowhere/Else")  # a bad stored value is ignored
    assert days.zone_name(project.store) == days.machine_zone()


def test_dates_are_validated():
    assert days.parse_day("2026-11-30") == dt.date(2026, 11, 30)
    for bad in ("2026-13-01", "garbage", "2026-02-30", "20261130", "2026-1-5", ""):
        with pytest.raises(days.DateError, match=r"is not a date \(YYYY-MM-DD\)"):
            days.parse_day(bad, "--to")
    with pytest.raises(days.DateError, match="--from 2026-12-01 is after --to 2026-11-30"):
        days.parse_range("2026-12-01", "2026-11-30", ("--from", "--to"))
    assert days.parse_range(None, "2026-11-30") == (None, dt.date(2026, 11, 30))


def test_core_figures_refuse_bad_dates_with_a_message(project):
    with pytest.raises(days.DateError, match="date_to: '2026-13-01' is not a date"):
        analytics.stats(project.store, None, "2026-13-01")
    with pytest.raises(days.DateError, match="is after"):
        moderate_counts(project.store, ModerateFilter("2026-12-01", "2026-11-30"))


@pytest.fixture
def cli_project(project):
    project.store.ensure_user("boss", Role.ADMIN)
    project.store.ensure_user("ana", Role.ANNOTATOR)
    project.close()
    return str(project.location)


@pytest.mark.parametrize("args, message", [
    (["--to", "2026-13-01"], "proofdesk: error: --to: '2026-13-01' is not a date (YYYY-MM-DD)\n"),
    (["--from", "garbage"], "proofdesk: error: --from: 'garbage' is not a date (YYYY-MM-DD)\n"),
    (["--from", "2026-12-01", "--to", "2026-11-30"], "proofdesk: error: --from 2026-12-01 is after --to 2026-11-30\n"),
])
def test_stats_command_refuses_bad_dates_in_one_line(cli_project, capsys, args, message):
    assert main(["--user", "boss", "stats", cli_project, *args]) == 1
    assert capsys.readouterr().err == message


# Folder only: ``--user`` picks who acts only in a project folder; on a team server the server login
# is the user and the roles are the server's (tests/core/test_team_roles.py, tests/test_cli_signin.py).
@pytest.mark.folder_only
def test_users_command_sets_the_time_zone_admins_only(cli_project, capsys):
    assert main(["--user", "boss", "users", cli_project, "--time-zone", "Mars/Olympus_Mons"]) == 1
    assert capsys.readouterr().err.startswith("proofdesk: error: 'Mars/Olympus_Mons' is not a time zone")
    assert main(["--user", "ana", "users", cli_project, "--time-zone", "Asia/Singapore"]) == 1
    assert "admin" in capsys.readouterr().err
    assert main(["--user", "boss", "users", cli_project, "--time-zone", "Asia/Singapore"]) == 0
    assert "days are counted in Asia/Singapore" in capsys.readouterr().out
    assert main(["--user", "boss", "stats", cli_project]) == 0
    assert "Asia/Singapore" in capsys.readouterr().out
    p = Project.open(cli_project)
    try:
        assert days.zone_name(p.store) == "Asia/Singapore"
    finally:
        p.close()


def test_a_utc_machine_keeps_the_days_an_older_database_stored(project, monkeypatch):
    monkeypatch.setenv("TZ", "Etc/UTC")  # an alias of UTC: the stored (UTC) days are not redone
    assert days.machine_zone() == "UTC"
    assert analytics.sync_days(project.store) is False
    monkeypatch.setenv("TZ", "Asia/Singapore")
    assert analytics.sync_days(project.store) is True
    assert analytics.sync_days(project.store) is False  # once
