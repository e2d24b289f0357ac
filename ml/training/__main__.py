"""``python -m ml.training PROJECT RUN_ID``: the training worker (as ``proofdesk worker train``)."""

import sys

from ml.training.worker import run

if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: python -m ml.training PROJECT RUN_ID")
    sys.exit(run(sys.argv[1], int(sys.argv[2])))
