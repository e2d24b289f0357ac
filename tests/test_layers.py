"""Persistence has one boundary: the app layer never runs SQL (it calls core; core's store owns the SQL)."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SQL = re.compile(r"\.(execute|executemany|executescript|query)\(|\bSELECT\b.*\bFROM\b|\bINSERT INTO\b|\bUPDATE \w+ SET\b"
                 r"|\bDELETE FROM\b")


def test_no_app_module_runs_sql():
    found = [f"{p.relative_to(ROOT)}:{i}: {line.strip()}" for p in sorted((ROOT / "app").rglob("*.py"))
             for i, line in enumerate(p.read_text(encoding="utf-8").splitlines(), start=1) if SQL.search(line)]
    assert not found, "SQL in the app layer (give core a function for it):\n" + "\n".join(found)


def test_the_admin_rule_has_one_home():
    """"Admins only, once the project has an admin" is Store.require_admin, not a copy per module."""
    copies = [str(p.relative_to(ROOT)) for p in sorted(ROOT.glob("*/**/*.py"))
              if p.parts[len(ROOT.parts)] in ("app", "core", "ml") and "role = 'admin'" in p.read_text(encoding="utf-8")]
    assert copies == ["core/store.py"], copies
