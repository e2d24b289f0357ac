"""The training worker as a QProcess: JSON lines in as signals, the record settled when it ends.

Nothing here blocks the GUI thread: the child's stdout arrives through ``readyReadStandardOutput``
in whatever pieces the pipe gives, is cut into lines, parsed and re-emitted as ``message(dict)``.
When the child ends without closing its run (killed, crashed), the run is marked failed with the
child's stderr added to its log; a cancel asked from here marks it cancelled.
"""

from __future__ import annotations

import json
from pathlib import Path

from PySide6.QtCore import QObject, QProcess, QProcessEnvironment, QTimer, Signal

from core import runs
from core.project import Project

from .command import worker_command, worker_env


class TrainingProcess(QObject):
    message = Signal(dict)  # one JSON line of the worker
    ended = Signal(int, str)  # run id, final status

    #: How long a cancelled worker gets to close its record before it is killed.
    KILL_AFTER_MS = 15000

    def __init__(self, project: Project, run_id: int, parent: QObject | None = None):
        super().__init__(parent)
        self.project, self.run_id = project, run_id
        self.cancelled = False
        self._buf = b""
        self._stderr = b""
        self.proc = QProcess(self)
        env = QProcessEnvironment()
        for k, v in worker_env(str(self.project.location)).items():
            env.insert(k, v)
        self.proc.setProcessEnvironment(env)
        self.proc.readyReadStandardOutput.connect(self._read)
        self.proc.readyReadStandardError.connect(self._read_err)
        self.proc.finished.connect(self._finished)
        self.proc.errorOccurred.connect(self._error)

    def start(self) -> None:
        cmd = worker_command(str(self.project.location), self.run_id)
        self.proc.start(cmd[0], cmd[1:])

    @property
    def running(self) -> bool:
        return self.proc.state() != QProcess.ProcessState.NotRunning

    def pid(self) -> int:
        return int(self.proc.processId())

    def cancel(self) -> None:
        """Ask the worker to stop (SIGTERM: it closes its record as cancelled); kill it if it lingers."""
        if not self.running:
            return
        self.cancelled = True
        self.proc.terminate()
        QTimer.singleShot(self.KILL_AFTER_MS, self._kill_if_running)

    def _kill_if_running(self) -> None:
        if self.running:
            self.proc.kill()

    def _read(self) -> None:
        self._buf += bytes(self.proc.readAllStandardOutput())
        *lines, self._buf = self._buf.split(b"\n")
        for raw in lines:
            try:
                msg = json.loads(raw)
            except ValueError:
                continue
            if isinstance(msg, dict):
                self.message.emit(msg)

    def _read_err(self) -> None:
        self._stderr = (self._stderr + bytes(self.proc.readAllStandardError()))[-20000:]

    def _error(self, err) -> None:
        if err == QProcess.ProcessError.FailedToStart:
            self._settle(-1)

    def _finished(self, code: int, status) -> None:
        self._read()
        self._read_err()
        self._settle(code)

    def _settle(self, code: int) -> None:
        store = self.project.store
        run = runs.get(store, self.run_id)
        if run.status in ("running", "queued"):
            if self.cancelled:
                run = runs.cancel(store, self.run_id)
            else:
                tail = self._stderr.decode(errors="replace")[-4000:]
                run = runs.fail(store, self.run_id, f"the worker exited with code {code}", log=tail)
        log = Path(run.folder(self.project.root)) / "worker.stderr"
        if self._stderr:
            try:
                log.parent.mkdir(parents=True, exist_ok=True)
                log.write_bytes(self._stderr)
            except OSError:
                pass
        self.ended.emit(self.run_id, run.status)
