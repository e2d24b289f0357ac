"""GUI event-loop stalls while a training run goes on in its child process.

    QT_QPA_PLATFORM=offscreen .venv/bin/python bench/bench_training_gui.py PROJECT [--params JSON]

Opens the Training screen on PROJECT (which needs confirmed pages), starts a run from it, and
while the run lasts ticks a 5 ms QTimer on the GUI thread: the largest gap between two ticks
minus the interval is the longest the event loop was stalled. Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("project")
    ap.add_argument("--params", default='{"max_lines": 300, "epochs": 1}')
    args = ap.parse_args()

    from PySide6.QtCore import QElapsedTimer, QTimer
    from PySide6.QtWidgets import QApplication

    from app.training.screen import TrainingScreen
    from core.project import Project

    app = QApplication.instance() or QApplication([])
    project = Project.open(args.project)
    screen = TrainingScreen(project, "bench")
    params = json.loads(args.params)
    screen.epochs.setValue(int(params.pop("epochs", 1)))
    screen.params_override = params
    screen.show()
    clock = QElapsedTimer()
    gaps: list[float] = []
    last = [0.0]
    messages = [0]
    screen_msgs = screen.on_message

    def counted(msg):
        messages[0] += 1
        screen_msgs(msg)

    screen.on_message = counted  # type: ignore[method-assign]

    def tick():
        now = clock.nsecsElapsed() / 1e6
        gaps.append(now - last[0])
        last[0] = now

    timer = QTimer()
    timer.setInterval(5)
    timer.timeout.connect(tick)
    result = {}

    def ended(run_id, status):
        result.update(run=run_id, status=status)
        app.quit()

    screen.runEnded.connect(ended)
    t0 = time.monotonic()
    clock.start()
    timer.start()
    run_id = screen.start_run()
    screen.process.message.disconnect(screen.on_message)
    screen.process.message.connect(counted)
    app.exec()
    timer.stop()
    stalls = sorted(g - 5.0 for g in gaps[1:])
    result.update(
        wall_s=round(time.monotonic() - t0, 1), ticks=len(gaps), json_lines=messages[0],
        max_stall_ms=round(stalls[-1], 1) if stalls else None,
        p99_stall_ms=round(stalls[int(0.99 * (len(stalls) - 1))], 1) if stalls else None,
        stalls_over_100ms=sum(s > 100 for s in stalls), run_requested=run_id,
        loadavg=os.getloadavg(), cores=len(os.sched_getaffinity(0)))
    print(json.dumps(result))
    project.close()
    return 0 if result.get("status") == "done" else 1


if __name__ == "__main__":
    sys.exit(main())
