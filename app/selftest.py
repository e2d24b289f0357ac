"""``proofdesk --selftest``: check, headless, what a user needs, in the installed app or from source.

Opens a temporary project, imports a bundled sample receipt, pre-fills it with the classical,
the neural and the combined engine (each in a worker process of the pre-fill pool, as the app
does; combined is what a new project pre-fills with), exports
it, opens the main window on it, and runs a one-step training in the worker process
(``proofdesk worker train``: the frozen app started again as its own worker). Each installed
plug-in engine (entry point group ``proofdesk.engines``, ``ml.engines``) pre-fills the receipt
too, in a worker process; one that failed to load is a failed check. One line per check,
``PASS``/``FAIL``/``SKIP``; the exit status is 1 when any check failed.

Without a display, Qt runs offscreen; under X (e.g. ``xvfb-run``) the window check uses the
real xcb platform plugin, which is what an installed app needs.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Callable, TextIO

USER = "selftest"
#: One optimiser step (8 lines, one batch): about a minute on a 2-core CPU, most of it start-up,
#: the ONNX export, the parity check and the evaluation.
TRAIN_PARAMS = {"epochs": 1, "max_lines": 8, "val_lines": 8, "batch_size": 8, "augment_copies": 0,
                "device": "cpu", "det_epochs": 1, "calib_pages": 2}
TRAIN_TIMEOUT_S = 900


class Skip(Exception):
    """A check that cannot run in this build (said so, never counted as passed)."""


def self_command() -> list[str]:
    """How to start this program again: the frozen executable, else ``python -m app.cli``."""
    if getattr(sys, "frozen", False):
        return [sys.executable]
    return [sys.executable, "-m", "app.cli"]


class SelfTest:
    def __init__(self, work: Path, out: TextIO):
        self.work = work
        self.out = out
        self.results: list[tuple[str, str, str]] = []
        self.project = None
        self.page_id: int | None = None

    def check(self, name: str, fn: Callable[[], str], needs: tuple[str, ...] = ()) -> None:
        failed = [n for n, status, _ in self.results if n in needs and status != "PASS"]
        t0 = time.perf_counter()
        if failed:
            status, detail = "FAIL", f"not run: {', '.join(failed)} did not pass"
        else:
            try:
                status, detail = "PASS", fn()
            except Skip as exc:
                status, detail = "SKIP", str(exc)
            except Exception as exc:  # noqa: BLE001 - every failure is a line, then the next check
                status, detail = "FAIL", f"{type(exc).__name__}: {exc}"
                if os.environ.get("PROOFDESK_SELFTEST_DEBUG"):
                    traceback.print_exc()
        self.results.append((name, status, detail))
        print(f"{status} {name}: {detail} ({time.perf_counter() - t0:.1f} s)", file=self.out, flush=True)

    # -- the checks ------------------------------------------------------------------------------

    def bundle(self) -> str:
        from core.resources import resources_dir, sample_receipts
        from ml.neural.models import models_root
        from ml.tess import tessdata_dir

        receipts = sample_receipts()
        if not receipts:
            raise RuntimeError(f"no sample receipts in {resources_dir() / 'samples' / 'receipts'}")
        models = sorted(p.parent.parent.name + "/" + p.parent.name for p in models_root().glob("*/*/model.json"))
        if not models:
            raise RuntimeError(f"no models in {models_root()}")
        tess = {lang: tessdata_dir(lang) for lang in ("eng", "osd")}
        where = "frozen" if getattr(sys, "frozen", False) else "source"
        return (f"{where} app, resources in {resources_dir()}, {len(receipts)} sample receipts, models "
                f"{', '.join(models)}, tessdata {tess['eng']}")

    def make_project(self) -> str:
        from core.project import Project

        self.project = Project.create(self.work / "project")
        return str(self.project.root)

    def import_sample(self) -> str:
        from core.importer import ImportOptions, import_paths
        from core.resources import sample_receipts

        receipt = sample_receipts()[0]
        summary = import_paths(self.project, [receipt], ImportOptions(reference=True, user=USER))
        if summary.failures or summary.pages != 1:
            raise RuntimeError("; ".join(summary.lines()))
        self.page_id = self.project.store.pages()[0].id
        return f"{receipt.name}: page {self.page_id}"

    def prefill(self, engine: str) -> str:
        from ml.prefill import plan_prefill, run_prefill

        plan = plan_prefill(self.project, [self.page_id], engine=engine)
        if plan.engine != engine:  # a missing or corrupt model gives the classical engine instead
            raise RuntimeError(f"the {engine} engine is unavailable here (got {plan.engine})")
        # One worker process: the spawn pool the app uses (in the frozen app, the executable
        # started again; multiprocessing.freeze_support() in the entry point makes that work).
        summary = run_prefill(self.project, plan, workers=1)
        if summary.failures or summary.done != [self.page_id]:
            raise RuntimeError("; ".join(summary.lines()))
        preds = [p for p in self.project.store.predictions(self.page_id) if p.engine == engine]
        if not preds:
            raise RuntimeError(f"no {engine} prediction stored")
        regions = preds[-1].regions
        texts = [r.text for r in regions if r.text.strip()]
        if not texts:
            raise RuntimeError(f"{engine} read no text on the sample receipt")
        extra = ""
        if engine == "neural":
            from ml.neural import runtime_info

            extra = f"; {', '.join(f'{k}: {v}' for k, v in runtime_info().items())}"
        return f"{len(regions)} regions, e.g. {texts[0][:30]!r}, engine {preds[-1].engine_version}{extra}"

    def plugin_checks(self) -> None:
        """A check per plug-in engine: it pre-fills the sample receipt (in a worker process of the
        pool, which loads the plug-ins again); a plug-in that failed to load fails its check."""
        from ml import engines

        for name in engines.plugin_engines():
            self.check(f"prefill plug-in {name}", lambda name=name: self.prefill(name), needs=("import",))
        for name, why in sorted(engines.PLUGIN_ERRORS.items()):
            self.check(f"plug-in {name}", lambda why=why: _raise(why))

    def export(self) -> str:
        from core.export import export_project

        out = self.work / "export"
        n = export_project(self.project, out)
        files = sorted(out.glob("*.json"))
        if n != 1 or len(files) != 1:
            raise RuntimeError(f"exported {n} page(s), {len(files)} JSON file(s)")
        record = json.loads(files[0].read_text(encoding="utf-8"))
        if not record.get("lines") or not (out / record["image"]).is_file():
            raise RuntimeError(f"{files[0].name} has no lines or no image")
        return f"{files[0].name} with {len(record['lines'])} lines and its image"

    def window(self) -> str:
        from PySide6.QtCore import QCoreApplication, QSettings
        from PySide6.QtWidgets import QApplication

        from app.main_window import MainWindow

        QCoreApplication.setOrganizationName("Proofdesk")
        QCoreApplication.setApplicationName("Proofdesk")
        app = QApplication.instance() or QApplication(sys.argv[:1])
        settings = QSettings(str(self.work / "settings.ini"), QSettings.Format.IniFormat)
        window = MainWindow(self.project, USER, settings)
        try:
            window.show()
            for _ in range(20):
                app.processEvents()
                time.sleep(0.02)
            title = window.windowTitle()
            if not window.isVisible() or not title.startswith("Proofdesk"):
                raise RuntimeError(f"window not shown (visible {window.isVisible()}, title {title!r})")
        finally:
            window.close()
            app.processEvents()
        return f"{title!r} on the {app.platformName()} platform"

    def training(self) -> str:
        from app.cli import build_parser

        sub = next(a for a in build_parser()._actions if a.__class__.__name__ == "_SubParsersAction")
        if "worker" not in sub.choices:
            raise Skip("this build has no `proofdesk worker train` command (training worker not in it)")
        from core import datasets, runs
        from core.importer import ImportOptions, import_paths
        from core.resources import sample_receipts

        # The other samples come in as labelled pages (their reference lines as people's work).
        import_paths(self.project, sample_receipts()[1:], ImportOptions(reference=True, labels=True, user=USER))
        version, _ = datasets.create_version(self.project.store, self.project.root, USER, "done", 0.25)
        run = runs.create(self.project.store, USER, version.id, dict(TRAIN_PARAMS))
        try:  # the command the app itself starts training with
            from app.training.command import worker_command, worker_env

            cmd, env = worker_command(self.project.root, run.id), worker_env()
        except ImportError:
            cmd, env = self_command() + ["worker", "train", str(self.project.root), "--run", str(run.id)], None
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=TRAIN_TIMEOUT_S, env=env)
        lines = []
        for ln in proc.stdout.splitlines():
            try:
                lines.append(json.loads(ln))
            except ValueError:
                continue
        done = [x for x in lines if x.get("type") == "done"]
        if proc.returncode != 0 or not done:
            errors = [x.get("error") for x in lines if x.get("type") == "error"]
            tail = (errors[-1] if errors else None) or proc.stderr.strip()[-300:] or "no output"
            raise RuntimeError(f"worker exited {proc.returncode}: {tail}")
        d = done[-1]
        cer = d.get("val_cer")
        if d.get("det_thresh") is None or not (self.project.root / d["path"] / "det" / "model.json").is_file():
            raise RuntimeError("the run did not fine-tune and export the detector")
        return (f"run {run.id} in a worker process ({Path(cmd[0]).name}): model version {d.get('model_version')}, "
                f"{TRAIN_PARAMS['max_lines']} of {version.n_train} training lines, one step, val CER "
                f"{cer if cer is None else f'{cer:.2%}'}; detector fine-tuned on {d.get('det_pages')} page(s)")

    def run(self) -> int:
        self.check("bundle", self.bundle)
        self.check("project", self.make_project)
        self.check("import", self.import_sample, needs=("project",))
        self.check("prefill classical", lambda: self.prefill("classical"), needs=("import",))
        self.check("prefill neural", lambda: self.prefill("neural"), needs=("import",))
        # The engine a new project pre-fills with: the neural model and Tesseract together.
        self.check("prefill combined", lambda: self.prefill("combined"), needs=("import",))
        self.plugin_checks()
        self.check("export", self.export, needs=("prefill classical",))
        self.check("window", self.window, needs=("import",))
        self.check("training", self.training, needs=("import",))
        if self.project is not None:
            self.project.close()
        counts = {s: sum(1 for _, st, _ in self.results if st == s) for s in ("PASS", "FAIL", "SKIP")}
        print(f"selftest: {counts['PASS']} passed, {counts['FAIL']} failed, {counts['SKIP']} skipped",
              file=self.out, flush=True)
        return 1 if counts["FAIL"] else 0


def _raise(why: str) -> str:
    raise RuntimeError(why)


def main(out: TextIO | None = None, keep: bool = False) -> int:
    """Run every check in a temporary folder; 0 when none failed."""
    if not os.environ.get("QT_QPA_PLATFORM") and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        os.environ["QT_QPA_PLATFORM"] = "offscreen"
    work = Path(tempfile.mkdtemp(prefix="proofdesk-selftest-"))
    try:
        return SelfTest(work, out or sys.stdout).run()
    finally:
        if keep:
            print(f"selftest: files kept in {work}", file=out or sys.stdout)
        else:
            shutil.rmtree(work, ignore_errors=True)
