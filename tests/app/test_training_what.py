"""The Training screen's "What to train" choice: text and fields, text only, or fields only, passed
to the run as `proofdesk train` passes --no-fields / --fields-only; the choices with fields are
disabled, saying why, while the project cannot train them.

The worker is a fake that closes its run on the next turn of the event loop: the test reads the
run's recorded parameters, nothing waits on a clock."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt

from core import runs
from core.fields import FieldValue
from core.model import Document, Page, PageStatus
from ml.training.fields import MIN_FIELD_PAGES

from .fake_workers import OneTurnWorker


class NoWorker(OneTurnWorker):
    """Starts nothing: the run is cancelled on the next turn of the event loop."""

    def finish(self) -> str:
        return runs.cancel(self.project.store, self.run_id).status


def _field_pages(store, n: int) -> None:
    first = len(store.pages())
    for i in range(first, first + n):
        store.add_document(Document(f"f{i}.png", f"sha-f{i}", f"/f{i}.png", "image", "2026-11-02T09:00:00+00:00",
                                    "ana", "b"), [Page(0, 1, f"img-f{i}", 500, 500, name=f"f{i}.png")])
        page_id = max(p.id for p in store.pages())
        store.set_page_field(page_id, FieldValue("total", f"{i},50"), "ana")
        store.set_page_status("ana", page_id, PageStatus.DONE)


def _screen(qtbot, project):
    from app.training.screen import TrainingScreen

    screen = TrainingScreen(project, "lead")
    qtbot.addWidget(screen)
    screen.process_class = NoWorker
    screen.dataset.setCurrentIndex(1)  # the fixture's dataset version
    return screen


def _run_params(qtbot, screen) -> dict:
    with qtbot.waitSignal(screen.runEnded, timeout=60_000):
        run_id = screen.start_run()
        assert run_id is not None
    return runs.get(screen.project.store, run_id).params


def _next_tab(widget):
    """The widget Tab goes to from ``widget``."""
    w = widget.nextInFocusChain()
    while not (w.focusPolicy() & Qt.FocusPolicy.TabFocus):
        w = w.nextInFocusChain()
    return w


def _choose(qtbot, screen, text: str) -> None:
    """Pick a choice with the keyboard: focus the combo, then Home / Down until it shows ``text``."""
    screen.what.setFocus()
    qtbot.keyClick(screen.what, Qt.Key.Key_Home)
    for _ in range(screen.what.count()):
        if screen.what.currentText() == text:
            return
        qtbot.keyClick(screen.what, Qt.Key.Key_Down)
    assert screen.what.currentText() == text


def test_each_choice_is_passed_to_the_run_like_the_cli_options(qtbot, project, one_line_version):
    store = project.store
    store.set_fields(["company", "total"])
    _field_pages(store, MIN_FIELD_PAGES)
    screen = _screen(qtbot, project)
    assert [screen.what.itemText(i) for i in range(screen.what.count())] == [
        "Text and fields", "Text only", "Fields only"]
    assert screen.what.currentText() == "Text and fields"
    assert all(screen.what.model().item(i).isEnabled() for i in range(3))
    assert screen.what.focusPolicy() & Qt.FocusPolicy.TabFocus  # reachable with Tab, after the dataset
    assert _next_tab(screen.dataset) is screen.what and _next_tab(screen.what) is screen.epochs
    params = _run_params(qtbot, screen)
    assert "train_ocr" not in params and "train_fields" not in params  # the default: the project decides

    _choose(qtbot, screen, "Text only")
    assert _run_params(qtbot, screen)["train_fields"] is False  # --no-fields

    _choose(qtbot, screen, "Fields only")
    params = _run_params(qtbot, screen)
    assert (params["train_ocr"], params["train_fields"]) == (False, True)  # --fields-only
    assert params["epochs"] == screen.epochs.value()


@pytest.mark.parametrize("schema", [False, True])
def test_fields_choices_are_disabled_saying_why_without_enough_pages(qtbot, project, one_line_version, schema):
    store = project.store
    if schema:
        store.set_fields(["total"])
        _field_pages(store, MIN_FIELD_PAGES - 1)
    else:
        store.set_fields([])  # a new project has the receipt fields: none at all here
    screen = _screen(qtbot, project)
    model = screen.what.model()
    assert screen.what.currentText() == "Text only"
    assert not model.item(0).isEnabled() and not model.item(2).isEnabled() and model.item(1).isEnabled()
    tip = screen.what.itemData(2, Qt.ItemDataRole.ToolTipRole)
    if schema:
        assert f"{MIN_FIELD_PAGES - 1} finished page(s) have field values" in tip
        assert f"at least {MIN_FIELD_PAGES}" in tip
    else:
        assert "no fields" in tip and "Field names" in tip
    assert tip in screen.what.toolTip()
    # The keyboard cannot land on a disabled choice.
    _choose(qtbot, screen, "Text only")
    qtbot.keyClick(screen.what, Qt.Key.Key_Down)
    qtbot.keyClick(screen.what, Qt.Key.Key_Up)
    assert screen.what.currentText() == "Text only"
    assert _run_params(qtbot, screen)["train_fields"] is False

    # One more finished page with fields (when there is a schema): Refresh enables them.
    if schema:
        _field_pages(store, 1)
        screen.refresh_button.click()
        assert model.item(0).isEnabled() and model.item(2).isEnabled()
        assert "Key fields cannot" not in screen.what.toolTip()
