"""Days as people live them: the project's time zone, day ranges, dates typed by a person.

Timestamps are stored in UTC (``core.store.now``: ISO 8601 with ``+00:00``, sorting as text).
A *day* in the Analytics figures and in the date filters is a day of the project's time zone,
the project setting ``time_zone`` (an IANA name such as ``Asia/Singapore``, or a fixed offset
``UTC+08:00``; unset: this machine's zone), so that work at 07:30 in Singapore (23:30 UTC the
day before) counts on the day it was done.

- A range of days ``[first, last]`` (both included) is the UTC instants
  ``[first 00:00 local, last + 1 00:00 local)``: :func:`utc_bounds`, compared as text with the
  stored timestamps (a bound ``YYYY-MM-DDTHH:MM:SS`` is a prefix of a timestamp at that second).
- One timestamp's day: :func:`local_day`.
- The per-day figures kept in the database (``verdicts.day``, ``verdict_daily``,
  ``activity_daily``) are in the zone named by the setting ``days_time_zone`` (:func:`days_zone`;
  ``UTC`` in a database that predates it); ``core.analytics.sync_days`` recomputes them when the
  project's zone differs, so writers never need to know which zone a reader will want.

zoneinfo reads the system's zone database; where there is none (Windows) it needs the ``tzdata``
package, which the pinned dependencies already bring in.
"""

from __future__ import annotations

import datetime as _dt
import functools
import os
import re
from pathlib import Path

from .errors import ProofdeskError

#: The project setting: the time zone days are counted in.
TIME_ZONE_SETTING = "time_zone"
#: The zone the stored per-day figures were computed in (kept by core.analytics.sync_days).
DAYS_ZONE_SETTING = "days_time_zone"
#: What stored per-day figures of a database without ``DAYS_ZONE_SETTING`` are in.
LEGACY_DAYS_ZONE = "UTC"

_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_OFFSET = re.compile(r"UTC([+-])(\d{2}):(\d{2})")
_UTC = _dt.timezone.utc
_UTC_ALIASES = {"UTC", "Etc/UTC", "Etc/UCT", "UCT", "Universal", "Etc/Universal", "Zulu", "Etc/Zulu", "GMT",
                "Etc/GMT", "GMT0", "Etc/GMT0", "Etc/GMT+0", "Etc/GMT-0", "Greenwich", "Etc/Greenwich"}


class DateError(ProofdeskError, ValueError):
    """A date or a range of dates a person typed that is not one."""


class TimeZoneError(ProofdeskError, ValueError):
    """A time zone name that is not one."""


# -- dates typed by a person -------------------------------------------------------------------
def parse_day(text: str | _dt.date, what: str = "date") -> _dt.date:
    """``YYYY-MM-DD`` -> date; DateError ``"{what}: '...' is not a date (YYYY-MM-DD)"`` otherwise."""
    if isinstance(text, _dt.date):
        return text
    s = str(text).strip()
    if _DATE.fullmatch(s):
        try:
            return _dt.date.fromisoformat(s)
        except ValueError:
            pass
    raise DateError(f"{what}: {str(text)!r} is not a date (YYYY-MM-DD)")


def parse_range(date_from, date_to, names: tuple[str, str] = ("date_from", "date_to")
                ) -> tuple[_dt.date | None, _dt.date | None]:
    """Both ends of a day range (None: open), checked: each a date, the first not after the last."""
    lo = parse_day(date_from, names[0]) if date_from else None
    hi = parse_day(date_to, names[1]) if date_to else None
    if lo and hi and lo > hi:
        raise DateError(f"{names[0]} {lo.isoformat()} is after {names[1]} {hi.isoformat()}")
    return lo, hi


# -- time zones --------------------------------------------------------------------------------
@functools.lru_cache(maxsize=64)
def get_zone(name: str) -> _dt.tzinfo:
    """The tzinfo of ``UTC``, an IANA name or ``UTC+HH:MM``; TimeZoneError when it is none."""
    m = _OFFSET.fullmatch(name or "")
    if m:
        sign, hours, minutes = m.groups()
        offset = _dt.timedelta(hours=int(hours), minutes=int(minutes))
        if offset < _dt.timedelta(hours=24):
            return _dt.timezone(-offset if sign == "-" else offset)
    elif name == "UTC":
        return _UTC
    elif name:
        from zoneinfo import ZoneInfo

        try:
            return ZoneInfo(name)
        except Exception:  # not found, a folder, a malformed or absolute path, not a zone file
            pass
    raise TimeZoneError(f"{name!r} is not a time zone (an IANA name such as Europe/Berlin or Asia/Singapore,"
                        " UTC, or UTC+08:00)")


def _offset_name(offset: _dt.timedelta | None) -> str:
    minutes = int((offset or _dt.timedelta()).total_seconds() // 60)
    sign = "-" if minutes < 0 else "+"
    return "UTC" if minutes == 0 else f"UTC{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


def machine_zone() -> str:
    """This machine's time zone: ``$TZ``, else the system's zone name, else its current offset."""
    candidates = [os.environ.get("TZ", "").lstrip(":")]
    try:
        target = os.path.realpath("/etc/localtime")
        if "zoneinfo/" in target:
            key = target.split("zoneinfo/", 1)[1]
            candidates += [key.removeprefix("posix/").removeprefix("right/")]
    except OSError:  # pragma: no cover - no such file
        pass
    try:
        candidates.append(Path("/etc/timezone").read_text().strip())
    except OSError:
        pass
    for name in candidates:
        if name:
            try:
                get_zone(name)
            except TimeZoneError:
                continue
            # One name for UTC: the stored per-day figures are not redone for an alias of it.
            return "UTC" if name in _UTC_ALIASES else name
    return _offset_name(_dt.datetime.now().astimezone().utcoffset())  # Windows without a name


def zone_name(store) -> str:
    """The project's time zone name (the setting, else this machine's zone)."""
    name = store.get_setting(TIME_ZONE_SETTING)
    if name:
        try:
            get_zone(name)
            return name
        except TimeZoneError:
            pass  # written by a later version, or by hand: this machine's zone, as if unset
    return machine_zone()


def zone(store) -> _dt.tzinfo:
    return get_zone(zone_name(store))


def set_time_zone(store, name: str | None) -> str:
    """Store the project's time zone (validated); None or "" clears it (each machine's own zone).

    Returns the zone now in effect. Who may change it is the caller's rule (``proofdesk users``:
    admins, once the project has one).
    """
    if name:
        get_zone(name)
    store.set_setting(TIME_ZONE_SETTING, name or None)
    return zone_name(store)


def days_zone(store) -> _dt.tzinfo:
    """The zone the stored per-day figures are in (read through ``store``, a :class:`core.store.Store`:
    inside an open transaction, that transaction's view)."""
    name = store.get_setting(DAYS_ZONE_SETTING, LEGACY_DAYS_ZONE)
    try:
        return get_zone(name or LEGACY_DAYS_ZONE)
    except TimeZoneError:
        return _UTC


# -- instants and days -------------------------------------------------------------------------
def _utc_text(t: _dt.datetime) -> str:
    return t.astimezone(_UTC).replace(tzinfo=None).isoformat(timespec="seconds")


def day_start(day: _dt.date, tz: _dt.tzinfo) -> str:
    """The UTC instant (``YYYY-MM-DDTHH:MM:SS``) at which ``day`` begins in ``tz``."""
    try:
        return _utc_text(_dt.datetime.combine(day, _dt.time(0), tz))
    except (OverflowError, ValueError):  # before year 1 or after 9999 in UTC
        return "0000" if day.year < 5000 else "9999"


def utc_bounds(date_from, date_to, tz: _dt.tzinfo) -> tuple[str, str]:
    """``[lo, hi)`` as UTC text for the days ``date_from`` .. ``date_to`` (both included; None: open)."""
    lo, hi = parse_range(date_from, date_to)
    start = day_start(lo, tz) if lo else "0000"
    if hi is None or hi == _dt.date.max:
        return start, "9999"
    return start, day_start(hi + _dt.timedelta(days=1), tz)


def day_bounds(date_from, date_to) -> tuple[str, str]:
    """``[lo, hi)`` as day text (``YYYY-MM-DD``) for the stored per-day figures."""
    lo, hi = parse_range(date_from, date_to)
    return (lo.isoformat() if lo else "0000-01-01",
            (hi + _dt.timedelta(days=1)).isoformat() if hi and hi != _dt.date.max else "9999-99")


def _parse_utc(ts: str) -> _dt.datetime:
    t = _dt.datetime.fromisoformat(ts)
    return t.replace(tzinfo=_UTC) if t.tzinfo is None else t


def local_day(ts: str | None, tz: _dt.tzinfo) -> str | None:
    """The day (``YYYY-MM-DD``, in ``tz``) of a stored timestamp; None for None or ""."""
    if not ts:
        return None
    return _parse_utc(ts).astimezone(tz).date().isoformat()


@functools.lru_cache(maxsize=65536)
def _minute_day(minute: str, tz: _dt.tzinfo) -> str:
    # Zone offsets are whole minutes, so every timestamp of one UTC minute is on one local day.
    return _dt.datetime.fromisoformat(minute).replace(tzinfo=_UTC).astimezone(tz).date().isoformat()


def local_days_of_minutes(minutes, tz: _dt.tzinfo) -> set[str]:
    """The local days of UTC minutes (``YYYY-MM-DDTHH:MM``, e.g. ``substr(ts, 1, 16)``)."""
    return {_minute_day(m, tz) for m in minutes if m}
