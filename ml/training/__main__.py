"""``python -m ml.training PROJECT RUN_ID``: the training worker (as ``proofdesk worker train``)."""

import sys

from ml.lifeline import end_with_parent
from ml.training.worker import run

if __name__ == "__main__":
    end_with_parent()  # its parent killed (the CLI, the app): stop as if cancelled, not run on orphaned
    if len(sys.argv) != 3:
        sys.exit("usage: python -m ml.training PROJECT RUN_ID")
    sys.exit(run(sys.argv[1], int(sys.argv[2])))
