"""Entry point of the frozen app (PyInstaller runs this file as ``__main__``).

``Proofdesk`` with no argument opens the GUI (with its splash); anything else is the
``proofdesk`` command line, so the app is its own worker: ``Proofdesk worker train ...``,
``Proofdesk prefill ...``, ``Proofdesk --selftest``.
"""

import multiprocessing
import sys


def main() -> int:
    # First of all: a process of the spawn pool (pre-fill) is this same executable started with
    # multiprocessing's arguments; freeze_support() runs the worker and exits before anything
    # else is imported.
    multiprocessing.freeze_support()
    args = sys.argv[1:]
    if not args:
        from app.main import run_gui

        return run_gui()
    from app.cli import main as cli_main

    return cli_main(args)


if __name__ == "__main__":
    sys.exit(main())
