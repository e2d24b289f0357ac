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


#: SQL in a string literal: what only the store (core/store.py and its *_store mixins) writes.
SQL_TEXT = re.compile(r"\bSELECT\b|\bINSERT (OR \w+ )?INTO\b|\bUPDATE \w+ SET\b|\bDELETE FROM\b|\bCREATE (TABLE|INDEX)\b"
                      r"|\bDROP (TABLE|TRIGGER|INDEX)\b|\bON CONFLICT\b")
RUNS_SQL = re.compile(r"\.(execute|executemany|executescript|query)\(")


def _string_literals(path: Path):
    import io
    import tokenize

    with path.open(encoding="utf-8") as f:
        for tok in tokenize.generate_tokens(io.StringIO(f.read()).readline):
            if tok.type == tokenize.STRING or tok.type == getattr(tokenize, "FSTRING_MIDDLE", -1):
                yield tok.start[0], tok.string


#: Core modules that decide what to read and write and leave the statements to the store's mixins
#: (core/review_store.py, core/run_store.py, core/analytics_store.py).
LOGIC_MODULES = ("core/review.py", "core/queue.py", "core/runs.py", "core/registry.py", "core/datasets.py",
                 "core/analytics.py", "core/days.py", "core/project.py")


def test_review_and_queue_logic_runs_no_sql():
    """core/review.py, core/queue.py, and the training (runs, registry, datasets), analytics, days
    and project modules decide what to read and write; the statements are the store's
    (core/review_store.py, core/run_store.py, core/analytics_store.py, mixed into Store), so all
    SQL sits behind one interface."""
    found = []
    for name in LOGIC_MODULES:
        path = ROOT / name
        found += [f"{name}:{line}: {text[:80]}" for line, text in _string_literals(path) if SQL_TEXT.search(text)]
        found += [f"{name}:{i}: {line.strip()}" for i, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
                  if RUNS_SQL.search(line)]
    assert not found, "SQL outside the store (give the store a method for it):\n" + "\n".join(found)


def test_the_store_row_mapping_stays_in_the_store():
    """Rows become Regions in the store (core/store.py, core/review_store.py) only."""
    users = [str(p.relative_to(ROOT)) for p in sorted(ROOT.glob("*/**/*.py"))
             if p.parts[len(ROOT.parts)] in ("app", "core", "ml") and "_row_to_region" in p.read_text(encoding="utf-8")]
    assert users == ["core/review_store.py", "core/store.py"], users
