"""The README documents every command of `proofdesk --help` (the datasette habit)."""

import re
from pathlib import Path

from app.cli import build_parser

ROOT = Path(__file__).resolve().parents[1]


def _commands() -> list[str]:
    parser = build_parser()
    sub = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction")
    return sorted(sub.choices)


def test_every_cli_command_is_in_the_readme():
    readme = (ROOT / "README.md").read_text()
    documented = set(re.findall(r"`proofdesk (\w[\w-]*)", readme))
    missing = [c for c in _commands() if c not in documented]
    assert not missing, f"commands missing from README.md: {missing}"


def test_every_option_of_every_command_is_in_the_readme():
    readme = (ROOT / "README.md").read_text()
    parser = build_parser()
    sub = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction")
    missing = []
    for name, cmd in sub.choices.items():
        for action in cmd._actions:
            for opt in action.option_strings:
                if opt.startswith("--") and opt != "--help" and opt not in readme:
                    missing.append(f"{name} {opt}")
    assert not missing, f"options missing from README.md: {missing}"


def test_readme_shows_the_two_commands_first():
    readme = (ROOT / "README.md").read_text()
    first_block = readme.split("```")[1]
    assert "make run" in first_block and "make test" in first_block


def test_docs_formats_is_what_the_format_modules_say():
    """docs/formats.md is generated from the format modules: `python -m core.formats > docs/formats.md`."""
    from core.formats.base import documentation

    assert (ROOT / "docs" / "formats.md").read_text(encoding="utf-8") == documentation(), (
        "docs/formats.md is out of date: run `.venv/bin/python -m core.formats > docs/formats.md`")


def test_every_format_is_in_the_readme():
    from core.formats.base import READERS, WRITERS, load_all

    load_all()
    readme = (ROOT / "README.md").read_text()
    missing = [name for name in sorted(set(READERS) | set(WRITERS)) if f"`{name}`" not in readme]
    assert not missing, f"formats missing from README.md: {missing}"
