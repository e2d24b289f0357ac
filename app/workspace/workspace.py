"""The annotation workspace: the canvas, the region list and the key fields of one page, the keys,
the queue.

This is the controller: the canvas and the list only show regions and report what the person
did; every change goes to the store here as one action, with the region version the window
loaded, and the stored result comes back to both views. When another window changed the
region in between (ConflictError), nothing is written, the status bar says so and the page is
reloaded: the other edit wins and is shown, never silently overwritten.
"""

from __future__ import annotations

import dataclasses

from PySide6.QtCore import QSettings, Qt, QThreadPool, QTimer, Signal
from PySide6.QtGui import QAction, QActionGroup, QKeySequence
from PySide6.QtWidgets import QAbstractItemView, QApplication, QDialog, QSplitter, QToolBar, QVBoxLayout, QWidget
from shiboken6 import isValid

from core import queue as work_queue
from core.errors import ConflictError, NotFoundError, ProofdeskError, ServerUnavailable
from core.fields import FieldValue
from core.geometry import reading_turn
from core.model import HUMAN, PageStatus, Region
from core.project import Project
from core.regions_ops import RegionOpError, merge_regions, plan_merge, plan_split, split_region
from core.store import turn_label
from ml.training.active import active_rec_folder

from ..connection_banner import PendingEdit, is_connection_error
from ..workers import Worker, start
from . import keys as keymod
from .canvas import DRAW_QUAD, DRAW_RECT, SELECT, PageCanvas
from .fields_dialog import FieldSchemaDialog
from .fields_panel import SOURCE_COLOUR, FieldsPanel, is_checked, value_text
from .loader import PageData, PageLoader, read_page
from .region_list import RegionListView
from .rerecognize import ACTION_LABEL, load_image, read_regions
from .states import LOW, region_state

LAST_PAGE = "last_page:{user}"
#: The page's share of the workspace's width at start, in thousandths.
PAGE_SHARE = 580
#: The key fields panel (under the region list) takes at most this share of the pane's height
#: on its own; a person may drag it larger.
FIELDS_SHARE = 0.45

#: Short texts for the toolbar (the full text and keys are in the tooltip and the help).
TOOLBAR = [("draw_rect", "Box"), ("draw_quad", "4-point"), ("lock", "Lock"), ("delete", "Delete"),
           ("rerecognize", "Re-read"), ("split", "Split"), ("merge", "Merge"), None, ("undo", "Undo"), ("redo", "Redo"), None,
           ("fit_page", "Fit page"), ("fit_width", "Fit width"), ("turn_ccw", "\u27f2 Turn"), ("turn_cw", "Turn \u27f3"),
           None, ("next_low", "Next low"),
           ("done_next", "Done \u25b8 next"), None, ("help", "Keys")]


def _py_index(text: str, utf16_pos: int) -> int:
    """A QLineEdit position (UTF-16 code units) as an index into the Python string."""
    units = 0
    for i, ch in enumerate(text):
        if units >= utf16_pos:
            return i
        units += 2 if ord(ch) > 0xFFFF else 1
    return len(text)


def last_page(project: Project, user: str) -> int | None:
    """The page this user had open last, if it still exists."""
    page_id = project.store.get_setting(LAST_PAGE.format(user=user))
    if page_id is None:
        return None
    try:
        project.store.get_page(int(page_id))
    except (NotFoundError, ValueError, TypeError):
        return None
    return int(page_id)


class Workspace(QWidget):
    message = Signal(str, int)  # status bar text, milliseconds (0 = until replaced)
    summary = Signal(str)  # the page line of the status bar
    pageOpened = Signal(int)
    pageStatusChanged = Signal(int)
    committed = Signal(str)  # one line per committed action (tests, the crash test's child)
    zoomChanged = Signal(float)
    imageShown = Signal(int, bool)  # page id, full resolution

    def __init__(self, settings: QSettings | None = None, parent=None):
        super().__init__(parent)
        self.settings = settings if settings is not None else QSettings()
        self.keymap = keymod.KeyMap(self.settings)
        self.project: Project | None = None
        self.user = ""
        self.loader: PageLoader | None = None
        self.data: PageData | None = None
        self.regions: dict[int, Region] = {}
        self.states: dict[int, str] = {}
        self.history: list[int] = []
        self.ocr_pool = QThreadPool(self)
        self.ocr_pool.setMaxThreadCount(1)  # one Tesseract model in memory, reused
        self.ocr_jobs: set[Worker] = set()
        #: A team project's connection (app/connection_banner.py): edits made while the server
        #: is lost are kept there and saved when it is back. None on a project folder.
        self.connection = None

        self.canvas = PageCanvas()
        self.canvas.highlight_colour = SOURCE_COLOUR  # the current key field's regions
        self.list = RegionListView()
        self.list.model_.commit_text = self.commit_text
        self.list.model_.commit_label = self.commit_label
        self.fields_panel = FieldsPanel()
        self.fields_panel.model_.commit_text = self.commit_field_text
        self._focus_before_fields: QWidget | None = None
        self.toolbar = QToolBar()
        self.toolbar.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
        # The right-hand pane: the region list, the page's key fields under it (issue 15).
        right = QSplitter(Qt.Orientation.Vertical)
        right.setChildrenCollapsible(False)
        right.addWidget(self.list)
        right.addWidget(self.fields_panel)
        right.setStretchFactor(0, 1)
        right.setStretchFactor(1, 0)
        self.right = right
        self._fields_sized_by_hand = False
        right.splitterMoved.connect(lambda *_: setattr(self, "_fields_sized_by_hand", True))
        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(self.canvas)
        splitter.addWidget(right)
        # The page gets the larger share (a page at 20 % was unreadable); the list's text wraps.
        splitter.setStretchFactor(0, 3)
        splitter.setStretchFactor(1, 2)
        splitter.setSizes([PAGE_SHARE, 1000 - PAGE_SHARE])
        self.splitter = splitter
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addWidget(self.toolbar)
        layout.addWidget(splitter, 1)
        self.help_overlay = keymod.HelpOverlay(self)
        self.help_overlay.closed.connect(self.list.setFocus)

        self.actions_: dict[str, QAction] = {}
        self._build_actions()
        self.canvas.selectionChangedIds.connect(self._canvas_selected)
        self.canvas.geometryEdited.connect(self.commit_geometry)
        self.canvas.regionDrawn.connect(self.add_region)
        self.canvas.activated.connect(self.edit_region)
        self.canvas.zoomChanged.connect(self.zoomChanged)
        self.canvas.modeChanged.connect(self._mode_changed)
        self.list.selectedIdsChanged.connect(self._list_selected)
        fv = self.fields_panel.view
        fv.currentFieldChanged.connect(lambda _name: self._highlight_field(scroll=True))
        fv.accepted.connect(self.accept_field)
        fv.leave.connect(self.leave_fields)

    # -- actions and keys --------------------------------------------------------------------
    def _handlers(self) -> dict:
        h = {
            "next_region": lambda: self.go(1),
            "prev_region": lambda: self.go(-1),
            "next_low": lambda: self.go_low(1),
            "prev_low": lambda: self.go_low(-1),
            "edit_accept": self.edit_or_accept,
            "done_next": self.mark_done_and_next,
            "next_page": self.open_next_page,
            "prev_page": self.open_previous_page,
            "undo": self.undo,
            "redo": self.redo,
            "delete": self.delete_selected,
            "lock": self.toggle_lock,
            "draw_rect": lambda: self.start_drawing(DRAW_RECT),
            "draw_quad": lambda: self.start_drawing(DRAW_QUAD),
            "rerecognize": lambda: self.rerecognize(self.selected_ids(), force=True),
            "split": self.split_current,
            "merge": self.merge_selected,
            "label_clear": lambda: self.set_label(None),
            "zoom_in": lambda: self.canvas.zoom_by(1.25),
            "zoom_out": lambda: self.canvas.zoom_by(0.8),
            "fit_page": lambda: self.canvas.fit("page"),
            "fit_width": lambda: self.canvas.fit("width"),
            "zoom_region": self.zoom_to_selected,
            "help": self.toggle_help,
            "turn_cw": lambda: self.turn_page(1),
            "turn_ccw": lambda: self.turn_page(-1),
            "fields_focus": self.toggle_fields_focus,
            "field_link": self.link_field,
            "field_absent": self.mark_field_absent,
        }
        for i in range(1, 10):
            h[f"label_{i}"] = lambda _checked=False, i=i: self.set_label_number(i)  # triggered(bool)
        return h

    def _build_actions(self) -> None:
        handlers = self._handlers()
        for ka in keymod.ACTIONS:
            act = QAction(ka.text, self)
            act.setShortcutContext(Qt.ShortcutContext.WindowShortcut if ka.scope == keymod.WINDOW
                                   else Qt.ShortcutContext.WidgetWithChildrenShortcut)
            act.triggered.connect(handlers[ka.id])
            # "fields" keys act only while the focus is in the key fields panel.
            (self.fields_panel if ka.scope == keymod.FIELDS else self).addAction(act)
            self.actions_[ka.id] = act
        for entry in TOOLBAR:
            if entry is None:
                self.toolbar.addSeparator()
                continue
            action_id, short = entry
            act = self.actions_[action_id]
            act.setIconText(short)  # the toolbar shows the short text, menus the full one
            self.toolbar.addAction(act)
        self.apply_keys()

    def apply_keys(self) -> None:
        """(Re)read the key table and bind it; the editor lets these keys through."""
        yield_keys = set()
        field_keys = set()
        for action_id, act in self.actions_.items():
            seqs = self.keymap.keys(action_id)
            act.setShortcuts(seqs)
            act.setToolTip(f"{act.text()} ({keymod.to_text(seqs, keymod.NATIVE)})" if seqs else act.text())
            fields_only = keymod.BY_ID[action_id].scope == keymod.FIELDS
            for s in seqs:
                combo = s[0] if s.count() else None
                if combo is None:
                    continue
                mods = combo.keyboardModifiers() & ~(Qt.KeyboardModifier.ShiftModifier | Qt.KeyboardModifier.KeypadModifier)
                key = combo.key()
                special = key in (Qt.Key.Key_Tab, Qt.Key.Key_Backtab, Qt.Key.Key_Return, Qt.Key.Key_Enter) or (
                    Qt.Key.Key_F1 <= key <= Qt.Key.Key_F35)
                if mods or special:
                    (field_keys if fields_only else yield_keys).add(QKeySequence(combo).toString(keymod.PORTABLE))
        self.list.yield_keys.clear()
        self.list.yield_keys.update(yield_keys)
        # The key fields' editor lets the same keys through, and its own, but keeps Enter (it
        # commits the field, not a region).
        own = {QKeySequence(k).toString(keymod.PORTABLE) for k in (Qt.Key.Key_Return, Qt.Key.Key_Enter)}
        self.fields_panel.view.yield_keys.clear()
        self.fields_panel.view.yield_keys.update((yield_keys | field_keys) - own)
        self.fields_panel.set_keys(*(self.keymap.text(i) for i in ("fields_focus", "field_link", "field_absent")))

    def populate_menu(self, menu) -> None:
        """The Workspace menu of the main window."""
        menu.addAction("&Field names...", self.edit_fields)
        menu.addAction("&Keyboard shortcuts...", self.edit_shortcuts)
        order_menu = menu.addMenu("&Queue order")
        group = QActionGroup(order_menu)
        self.order_actions = {}
        for value, text in (("import", "&Import order"), ("confidence", "Lowest &confidence first")):
            act = order_menu.addAction(text)
            act.setCheckable(True)
            act.triggered.connect(lambda _=False, v=value: self.set_queue_order(v))
            group.addAction(act)
            self.order_actions[value] = act
        order_menu.aboutToShow.connect(self._sync_order_menu)
        menu.addSeparator()
        for action_id in ("done_next", "next_page", "prev_page", "next_low", "rerecognize", "help"):
            menu.addAction(self.actions_[action_id])

    def view_actions(self) -> list[QAction]:
        return [self.actions_[i] for i in ("zoom_in", "zoom_out", "fit_page", "fit_width", "zoom_region")]

    def _sync_order_menu(self) -> None:
        if self.project is not None:
            self.order_actions[work_queue.queue_order(self.project.store)].setChecked(True)

    def set_queue_order(self, order: str) -> None:
        work_queue.set_queue_order(self.project.store, order)
        self.message.emit(f"Queue order: {'lowest confidence first' if order == 'confidence' else 'import order'}",
                          5000)
        self._schedule_preload()

    def edit_shortcuts(self) -> None:
        dialog = keymod.ShortcutDialog(self.keymap, self)
        if dialog.exec() == QDialog.DialogCode.Accepted:
            self.apply_keys()
            self.message.emit("Keyboard shortcuts saved", 5000)

    def edit_fields(self) -> None:
        if self.project is None:
            return
        dialog = FieldSchemaDialog(self.project.store.fields(), self)
        if dialog.exec() == QDialog.DialogCode.Accepted:
            self.set_fields(dialog.fields())

    def set_fields(self, names: list[str]) -> None:
        self.project.store.set_fields(names)
        self.list.model_.fields = self.project.store.fields()
        self._load_fields()
        self.message.emit("Field names: " + ", ".join(self.list.model_.fields), 5000)

    def toggle_help(self) -> None:
        if self.help_overlay.isVisible():
            self.help_overlay.close_overlay()
        else:
            self.help_overlay.show_keys(self.keymap, self.list.model_.fields)

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        if self.help_overlay.isVisible():
            self.help_overlay.setGeometry(self.rect())
        self._fit_fields_panel()

    # -- project and pages --------------------------------------------------------------------
    def set_project(self, project: Project, user: str) -> None:
        self.wait_for_workers()
        self.project = project
        self.user = user
        if self.loader is not None:
            self.loader.deleteLater()
        self.loader = PageLoader(project, self)
        self.loader.preview.connect(self._on_preview)
        self.loader.images.connect(self._on_images)
        self.loader.failed.connect(lambda pid, msg: self.message.emit(f"Page {pid}: {msg}", 10000))
        self.list.model_.fields = project.store.fields()
        self.history = []
        self.clear()

    def clear(self) -> None:
        self.data = None
        self.regions, self.states = {}, {}
        self.canvas.clear()
        self.list.model_.crops.set_image(None, 0)
        self.list.model_.set_regions([], {}, set())
        self.fields_panel.show_fields(None, [], [])
        self.summary.emit("")

    @property
    def page_id(self) -> int | None:
        return self.data.page.id if self.data is not None else None

    def open_page(self, page_id: int) -> None:
        """Show a page: at once from the cache when it was loaded ahead, else read it now."""
        if self.project is None:
            return
        if self._offline():
            self.commit_pending()  # kept with the other unsaved edits
            self.message.emit("Not connected to the server: pages open again when the connection is back", 8000)
            return
        self._read(lambda: self._open_page(page_id))

    def _open_page(self, page_id: int) -> None:
        self.commit_pending()
        if page_id == self.page_id:
            self.reload()
            return
        store = self.project.store
        data = self.loader.cached(page_id)
        now = store.get_page(page_id) if data is not None else None
        if data is not None and store.regions_signature(page_id) == data.signature and now.rotation == data.page.rotation:
            data.page = now  # the status may have moved on
        else:
            fresh = read_page(self.project, page_id)
            if data is not None and fresh.image_path == data.image_path:  # not turned since
                fresh.images = data.images
            data = fresh
            self.loader.put(data)
        self.data = data
        if self.history[-1:] != [page_id]:
            self.history.append(page_id)
        page = data.page
        self.canvas.set_page(page.width, page.height, data.images or None)
        self.list.model_.crops.set_image(data.images[0] if data.images else None, page.width)
        self._show_regions(data.regions, keep_selection=False, states=data.states, polygons=data.polygons,
                           layer_paths=data.layer_paths)
        self.list.show_top()  # a new page starts at its first region, not where the last one was
        in_fields = self._in_fields()
        self._load_fields()
        if data.images:
            self.imageShown.emit(page_id, True)
        elif data.image_path is not None:
            self.loader.load_images(page_id, data.image_path)
        else:
            self.message.emit(data.image_error or "The page image is missing", 10000)
        store.set_setting(LAST_PAGE.format(user=self.user), page_id)
        self.pageOpened.emit(page_id)
        self._propose_turn()
        if not in_fields:  # working through the key fields page after page: stay there
            self.list.setFocus()
        self._schedule_preload()

    def reload(self) -> None:
        """Read the page's regions again from the store (after undo, a conflict, another window)."""
        if self.data is None or self._offline():
            return
        self._read(self._reload)

    def _read(self, fn) -> None:
        """Show what the store holds; a connection that died since its last use (a server restart)
        is made again once, and a server that does not answer is reported, not raised."""
        for attempt in (1, 2):
            try:
                fn()
                return
            except ProofdeskError as exc:
                if not is_connection_error(exc) or self.connection is None:
                    raise
                if attempt == 1 and isinstance(exc, ServerUnavailable):
                    continue
                self._connection_lost(exc)
                return

    def _reload(self) -> None:
        keep = self.selected_ids()
        fresh = read_page(self.project, self.data.page.id)
        if fresh.image_path != self.data.image_path:  # turned (here, by an undo, in another window)
            self._show_turned(fresh)
            return
        fresh.images = self.data.images
        self.data = fresh
        self.loader.put(fresh)
        self._show_regions(fresh.regions, keep_selection=False, states=fresh.states, polygons=fresh.polygons,
                           layer_paths=fresh.layer_paths)
        keep = [i for i in keep if i in self.regions]
        if keep:
            self.select(keep, scroll=False)
        self._load_fields()

    def _show_regions(self, regions: list[Region], keep_selection: bool = True, states=None, polygons=None,
                      layer_paths=None) -> None:
        self.regions = {r.id: r for r in regions}
        self.states = dict(states) if states else {r.id: self._state(r) for r in regions}
        self.canvas.sync(regions, self.states, polygons, layer_paths)
        self.list.model_.set_regions(regions, self.states, self.data.checked if self.data is not None else set())
        self._emit_summary()

    def _state(self, r: Region) -> str:
        pred = self.data.predicted.get((r.prediction_id, r.pred_index)) if r.prediction_id is not None else None
        return region_state(r, pred, self.data is not None and r.id in self.data.checked)

    def _emit_summary(self) -> None:
        if self.data is None:
            return
        page = self.data.page
        low = sum(1 for s in self.states.values() if s == LOW)
        checked = sum(1 for i in self.data.checked if i in self.regions)
        # "done by" names the annotator; an approved or rejected page says who did it, not who
        # reviewed it (the reviewer is in the rejection note).
        done = ((f" by {page.done_by}" if page.status == PageStatus.DONE else f" (done by {page.done_by})")
                if page.done_by and page.status in (PageStatus.DONE, PageStatus.APPROVED, PageStatus.REJECTED)
                else "")
        self.summary.emit(f"{page.name}  \u00b7  {page.status.value.replace('_', ' ')}{done}  \u00b7  "
                          f"{len(self.regions)} regions, {low} low confidence, {checked} checked")

    def _on_preview(self, page_id: int, image) -> None:
        if page_id == self.page_id and not self.canvas.has_image():
            self.canvas.set_images([image])
            self.imageShown.emit(page_id, False)

    def _on_images(self, page_id: int, levels) -> None:
        if page_id != self.page_id:
            return
        self.data.images = levels
        self.canvas.set_images(levels)
        self.list.model_.crops.set_image(levels[0], self.data.page.width)
        self.list.model_.crops_changed()
        self.imageShown.emit(page_id, True)

    def _schedule_preload(self) -> None:
        QTimer.singleShot(0, self._preload_quietly)

    def _preload_quietly(self) -> None:
        """preload_next, but not while the team server is lost (nothing to read ahead then)."""
        if not self._offline():
            self._read(self.preload_next)

    def preload_next(self) -> Worker | None:
        if self.project is None or self.loader is None:
            return None
        nxt = work_queue.next_page(self.project.store, current=self.page_id, user=self.user)
        return self.loader.preload(nxt) if nxt is not None and nxt != self.page_id else None

    def open_next_page(self) -> bool:
        nxt = work_queue.next_page(self.project.store, current=self.page_id, user=self.user)
        if nxt is None or nxt == self.page_id:
            self.message.emit("The queue is empty: no other page needs work", 8000)
            return False
        self.open_page(nxt)
        return True

    def open_previous_page(self) -> None:
        if len(self.history) >= 2:
            self.history.pop()
            self.open_page(self.history.pop())

    def mark_done_and_next(self) -> None:
        if self.data is None:
            return
        self.commit_pending()
        page_id, user = self.page_id, self.user

        def done(store):
            store.set_page_status(user, page_id, PageStatus.DONE)

        if self._offline():
            self._keep_call(f"mark page {page_id} done", page_id, done)
            return
        try:
            done(self.project.store)
        except ProofdeskError as exc:
            if is_connection_error(exc):
                self._keep_call(f"mark page {page_id} done", page_id, done, reason=str(exc))
                return
            self.message.emit(f"Not marked done: {exc}", 10000)
            return
        self.data.page = self.project.store.get_page(page_id)
        self.committed.emit(f"done page {page_id}")
        self.pageStatusChanged.emit(page_id)
        if not self.open_next_page():
            self._emit_summary()
            self.message.emit("Page done. The queue is empty: every page is done", 0)

    # -- selection ----------------------------------------------------------------------------
    def selected_ids(self) -> list[int]:
        ids = self.list.selected_ids()
        if not ids:
            editing = self.list.editing_id()
            ids = [editing] if editing is not None else []
        return ids

    def select(self, ids: list[int], scroll: bool = True) -> None:
        self.list.select_ids(ids)
        self.canvas.select_ids(ids, scroll=scroll)

    def _canvas_selected(self, ids: list[int]) -> None:
        self.list.close_editor(commit=True) if self.list.editing_id() not in (None, *ids) else None
        self.list.select_ids(ids)

    def _list_selected(self, ids: list[int]) -> None:
        self.canvas.select_ids(ids, scroll=True)

    def _row_ids(self) -> list[int]:
        return [r.id for r in self.list.model_.regions]

    def _current(self) -> int | None:
        """The region being edited, else the selected one the list's cursor is on."""
        editing = self.list.editing_id()
        if editing is not None:
            return editing
        selected = self.list.selected_ids()
        cur = self.list.current_id()
        return cur if cur in selected else (selected[0] if selected else None)

    def go(self, step: int) -> None:
        """Next / previous region in reading order, with the focus in its text."""
        ids = self._row_ids()
        if not ids:
            return
        self.list.close_editor(commit=True)
        cur = self._current()
        if cur in ids:
            i = ids.index(cur) + step
            i = max(0, min(len(ids) - 1, i))
        else:
            i = 0 if step > 0 else len(ids) - 1
        self.edit_region(ids[i])

    def go_low(self, step: int) -> None:
        """Next / previous region still at low confidence (wraps around)."""
        ids = self._row_ids()
        low = [i for i in ids if self.states.get(i) == LOW]
        if not low:
            self.message.emit("No low-confidence region left on this page", 5000)
            return
        self.list.close_editor(commit=True)
        cur = self._current()
        pos = ids.index(cur) if cur in ids else -1
        order = ids[pos + 1:] + ids[:pos + 1] if step > 0 else list(reversed(ids[:max(pos, 0)])) + list(
            reversed(ids[max(pos, 0):]))
        target = next(i for i in order if self.states.get(i) == LOW)
        self.edit_region(target)

    def edit_region(self, region_id: int) -> None:
        """Select a region everywhere and put the focus into its text."""
        self.select([region_id])
        self.list.open_editor(region_id)

    def edit_or_accept(self) -> None:
        ed = self.list.indexWidget(self.list.currentIndex()) if self.list.state() == \
            QAbstractItemView.State.EditingState else None
        if ed is not None:
            text_ed = self.list.delegate.editor
            rid = self.list.editing_id()
            # Enter on a text left as it was: the person read it and found it right.
            unchanged = ed is text_ed and rid is not None and not text_ed.dirty
            self.list.close_editor(commit=True)
            if self.list.state() == QAbstractItemView.State.EditingState:  # the field combo
                self.list.delegate.commitData.emit(ed)
                self.list.delegate.closeEditor.emit(ed, self.list.delegate.EndEditHint.NoHint)
            self.list.setFocus()
            if unchanged:
                self.accept_regions([rid])
            return
        ids = self.selected_ids()
        target = self.list.current_id() if self.list.current_id() in ids else (ids[0] if ids else None)
        if target is None and self._row_ids():
            target = self._row_ids()[0]
        if target is not None:
            self.edit_region(target)

    def accept_regions(self, ids: list[int]) -> bool:
        """The person read these regions' texts and found them right: one action, an Edit
        ``checked`` each (regions already checked or typed by a person, and empty ones, are left
        as they are).
        They then show checked and no longer count as low confidence."""
        if self.data is None:
            return False
        regions = [self.regions[i] for i in ids
                   if i in self.regions and i not in self.data.checked and self.regions[i].text.strip()]
        if not regions:
            return True

        def do(a):
            return [a.check_region(r.id, r.version) for r in regions]

        versions = self._act("check", do, pending=lambda: [r.version + 1 for r in regions],
                             regions=[r.id for r in regions])
        if versions is None:
            return False
        self.data.checked.update(r.id for r in regions)
        self._apply_local([dataclasses.replace(r, version=v) for r, v in zip(regions, versions)])
        self.message.emit("Checked" if len(regions) == 1 else f"{len(regions)} regions checked", 2000)
        return True

    def split_current(self) -> None:
        """Split the region being edited at its text cursor, or cut its selected text out: one
        action; the part meant (the selection, or what follows the cursor) is then the selected
        region, so a field key labels it at once."""
        if self.data is None:
            return
        ed = self.list.delegate.editor
        rid = self.list.editing_id()
        if ed is None or rid is None or rid not in self.regions:
            self.message.emit("Split: edit the region's text (Enter), put the cursor where the line splits or"
                              " select the part to cut out (Shift+End), then Ctrl+K", 8000)
            return
        text = ed.text()
        if ed.hasSelectedText():
            start = _py_index(text, ed.selectionStart())
            end = start + len(ed.selectedText())
        else:
            start = end = _py_index(text, ed.cursorPosition())
        if ed.dirty and not self.list.commit_editor():
            return  # the typing was refused (a conflict): the page is reloaded
        region = self.regions[rid]
        if region.text != text:
            return
        try:
            if region.locked:
                raise RegionOpError("the region is locked (L unlocks it)")
            plan_split(region, start, end if end > start else None)
        except RegionOpError as exc:
            self.message.emit(f"Not split: {exc}", 6000)
            return
        checked = rid in self.data.checked
        self.list.close_editor(commit=False)
        result = self._act("split region", lambda a: split_region(a, region, start, end if end > start else None,
                                                                  checked=checked), regions=[rid])
        if result is None:
            return
        self.reload()
        self.select([result.current])
        self.list.setFocus()
        self.message.emit(f"Split into {len(result.ids)} regions; the selected one takes a field key (1-9)", 6000)

    def merge_selected(self) -> None:
        """Merge the selected regions into one (one action): texts in reading order, one box."""
        if self.data is None:
            return
        self.list.close_editor(commit=True)
        regions = [self.regions[i] for i in self.selected_ids() if i in self.regions]
        try:
            if any(r.locked for r in regions):
                raise RegionOpError("a locked region is selected (L unlocks it)")
            plan_merge(regions)
        except RegionOpError as exc:
            self.message.emit(f"Not merged: {exc} (Shift+click or Shift+arrows select several)", 6000)
            return
        checked = all(r.id in self.data.checked for r in regions)
        rid = self._act(f"merge {len(regions)} regions", lambda a: merge_regions(a, regions, checked=checked),
                        regions=[r.id for r in regions])
        if rid is None:
            return
        self.reload()
        self.select([rid])
        self.list.setFocus()
        self.message.emit(f"Merged {len(regions)} regions", 4000)

    def zoom_to_selected(self) -> None:
        ids = self.selected_ids()
        if ids:
            self.canvas.zoom_to(ids[0])

    def start_drawing(self, mode: str) -> None:
        if self.data is None:
            return
        self.list.close_editor(commit=True)
        self.canvas.set_mode(mode)
        self.canvas.setFocus()

    def _mode_changed(self, mode: str) -> None:
        if mode == DRAW_RECT:
            self.message.emit("Draw a box: drag over the text (Esc cancels)", 0)
        elif mode == DRAW_QUAD:
            self.message.emit("4-point region: click the 4 corners (Esc cancels)", 0)
        elif mode == SELECT:
            self.message.emit("", 1)

    # -- committing: one store action per change ----------------------------------------------
    def commit_pending(self) -> None:
        """Commit what is being typed (before anything that leaves or reloads the page)."""
        if self.list.delegate.editor is not None:
            self.list.commit_editor()
        if self.fields_panel.view.delegate.editor is not None:
            self.fields_panel.view.commit_editor()

    def _act(self, label: str, fn, page_id: int | None = None, quiet_conflict: bool = False, pending=None,
             regions=()):
        """Run ``fn(action)`` as one store action. Returns its result, or None when refused.

        When the team server cannot be reached, the action is kept (``self.connection``) and saved
        when it is back; ``pending()`` then gives what to show meanwhile (None: nothing changes
        on screen until it is saved), ``regions`` are marked "not saved" in the region list."""
        page_id = page_id if page_id is not None else self.page_id
        if self._offline():  # behind the edits kept already, in order
            return self._keep(label, fn, page_id, pending, regions)
        try:
            with self.project.store.action(self.user, page_id, label) as a:
                result = fn(a)
        except ConflictError as exc:
            if not quiet_conflict:
                self._conflict(str(exc))
            return None
        except NotFoundError as exc:
            self.message.emit(f"Not saved: {exc}", 10000)
            QTimer.singleShot(0, self.reload)
            return None
        except ProofdeskError as exc:
            if not is_connection_error(exc):
                raise
            return self._keep(label, fn, page_id, pending, regions, str(exc))
        self.committed.emit(label)
        if self.data is not None and page_id == self.page_id:
            # The page line of the status bar after every action, whatever the page's status.
            status = self.data.page.status
            self.data.page = self.project.store.get_page(page_id)
            self._emit_summary()
            if self.data.page.status != status:
                self.pageStatusChanged.emit(page_id)
        return result

    # -- a team server out of reach: edits kept, saved when it is back ---------------------------
    def set_connection(self, connection) -> None:
        """The team project's connection (None: a project folder, never out of reach)."""
        self.connection = connection
        self.list.model_.set_unsaved(set())
        if connection is not None:
            connection.pendingChanged.connect(lambda _n: self._show_unsaved())

    def _offline(self) -> bool:
        return self.connection is not None and self.connection.lost

    def _connection_lost(self, exc: BaseException) -> None:
        if self.connection is None:
            raise exc
        self.connection.mark_lost(str(exc))

    def _show_unsaved(self) -> None:
        if self.connection is not None:
            self.list.model_.set_unsaved(self.connection.unsaved_regions(self.page_id))

    def _keep(self, label: str, fn, page_id, pending=None, regions=(), reason: str = ""):
        """Keep an action the server could not take; saved in order when it is back."""
        user = self.user

        def run(store):
            with store.action(user, page_id, label) as a:
                return fn(a)

        return self._keep_call(label, page_id, run, regions, reason, pending)

    def _keep_call(self, label: str, page_id, run, regions=(), reason: str = "", pending=None):
        if self.connection is None:
            self.message.emit(f"Not saved: {reason}", 15000)
            return None
        self.connection.keep(PendingEdit(label, page_id, run, frozenset(regions)), reason)
        self.message.emit(f"Not saved yet ({label}): no connection to the server; it is saved when the"
                          " connection is back", 0)
        return pending() if pending is not None else None

    def _conflict(self, detail: str) -> None:
        self.list.close_editor(commit=False)
        self.fields_panel.view.close_editor(commit=False)
        self.message.emit(f"Not saved: {detail}. The page was reloaded to show the other change.", 15000)
        QTimer.singleShot(0, self.reload)

    def _apply_local(self, regions: list[Region]) -> None:
        """Show regions that changed in place (text, label, lock): no reload, no re-sort."""
        for r in regions:
            self.regions[r.id] = r
            self.states[r.id] = self._state(r)
            self.list.model_.update_region(r, self.states[r.id])
        self.canvas.update_regions(regions, self.states)
        if self.data is not None:
            self.data.regions = [self.regions[i] for i in self._row_ids()]
            self.data.states.update({r.id: self.states[r.id] for r in regions})  # the geometry is unchanged
            self.data.layer_paths = None  # drawn from the items from now on
            # Read again when shown next unless it is current (never while the server is lost).
            self.data.signature = () if self._offline() else self.project.store.regions_signature(
                self.data.page.id)
        self._emit_summary()

    def commit_text(self, region_id: int, text: str) -> bool:
        r = self.regions.get(region_id)
        if r is None:
            return False
        if r.text == text:
            return True
        # Text a person typed into a box they drew is theirs: no machine confidence stays on it.
        extra = {"confidence": None} if r.origin == HUMAN and r.confidence is not None else {}
        version = self._act("edit text", lambda a: a.update_region(region_id, r.version, text=text, **extra),
                            pending=lambda: r.version + 1, regions=[region_id])
        if version is None:
            return False
        self.data.typed.add(region_id)
        self.data.checked.add(region_id)  # typed text is checked text
        self._apply_local([dataclasses.replace(r, text=text, version=version, **extra)])
        return True

    def commit_label(self, region_id: int, label: str | None) -> bool:
        return self._set_labels([region_id], label)

    def set_label_number(self, number: int) -> None:
        fields = self.list.model_.fields
        if number > len(fields):
            self.message.emit(f"No field {number}: the schema has {len(fields)} (Workspace > Field names)", 5000)
            return
        self.set_label(fields[number - 1])

    def set_label(self, label: str | None) -> None:
        ids = self.selected_ids()
        if not ids:
            self.message.emit("Select a region first", 3000)
            return
        self.commit_pending()
        if label is not None and all(self.regions[i].label == label for i in ids if i in self.regions):
            label = None  # the same key again takes the label off
        self._set_labels(ids, label)

    def _set_labels(self, ids: list[int], label: str | None) -> bool:
        regions = [self.regions[i] for i in ids if i in self.regions and self.regions[i].label != label]
        if not regions:
            return True

        def do(a):
            return [a.update_region(r.id, r.version, label=label) for r in regions]

        versions = self._act(f"label {label or '(none)'}", do, pending=lambda: [r.version + 1 for r in regions],
                             regions=[r.id for r in regions])
        if versions is None:
            return False
        self._apply_local([dataclasses.replace(r, label=label, version=v) for r, v in zip(regions, versions)])
        return True

    def toggle_lock(self) -> None:
        regions = [self.regions[i] for i in self.selected_ids() if i in self.regions]
        if not regions:
            return
        lock = not all(r.locked for r in regions)

        def do(a):
            return [a.update_region(r.id, r.version, locked=lock) for r in regions]

        versions = self._act("lock" if lock else "unlock", do, pending=lambda: [r.version + 1 for r in regions],
                             regions=[r.id for r in regions])
        if versions is not None:
            self._apply_local([dataclasses.replace(r, locked=lock, version=v) for r, v in zip(regions, versions)])
            self.message.emit(f"{len(regions)} region(s) {'locked' if lock else 'unlocked'}", 3000)

    def delete_selected(self) -> None:
        ids = self.selected_ids()
        regions = [self.regions[i] for i in ids if i in self.regions]
        locked = [r for r in regions if r.locked]
        regions = [r for r in regions if not r.locked]
        if locked:
            self.message.emit(f"{len(locked)} locked region(s) kept (L unlocks)", 5000)
        if not regions:
            return
        self.list.close_editor(commit=False)
        rows = self._row_ids()
        after = [i for i in rows[rows.index(regions[-1].id) + 1:] if i not in ids]

        def do(a):
            for r in regions:
                a.delete_region(r.id, r.version)
            return len(regions)  # not None: None means refused

        if self._act(f"delete {len(regions)} region(s)", do, regions=[r.id for r in regions]) is not None:
            self.reload()
            if after:
                self.select([after[0]])

    def commit_geometry(self, changes: dict) -> None:
        regions = [self.regions[i] for i in changes if i in self.regions and not self.regions[i].locked]
        if not regions:
            self.reload()
            return

        def do(a):
            return [a.update_region(r.id, r.version, points=[tuple(p) for p in changes[r.id]]) for r in regions]

        label = "move" if len(regions) > 1 else "reshape"
        if self._act(f"{label} {len(regions)} region(s)", do, regions=[r.id for r in regions]) is None:
            return
        self.reload()
        self.select([r.id for r in regions], scroll=False)
        self.rerecognize([r.id for r in regions], force=False)

    def add_region(self, points: list) -> int | None:
        if self.data is None:
            return None
        page_id = self.page_id
        rid = self._act("add region", lambda a: a.add_region(page_id, [tuple(p) for p in points]))
        if rid is None:
            return None
        self.reload()
        self.edit_region(rid)
        self.rerecognize([rid], force=False)
        return rid

    # -- turning the page (ADR 0008) -----------------------------------------------------------
    def turn_page(self, quarter_turns: int) -> None:
        """Turn the page a quarter (clockwise; negative: counter-clockwise) with its regions: one
        undoable action; the canvas then shows the page's image turned (``Project.image_path``)."""
        if self.data is None:
            return
        self.commit_pending()
        self.list.close_editor(commit=True)
        page_id = self.page_id
        if self._act(turn_label(quarter_turns), lambda a: a.turn_page(page_id, quarter_turns)) is None:
            return
        self.data.page = self.project.store.get_page(page_id)
        self.reload()
        self.message.emit(f"Page turned to {self.data.page.rotation}\u00b0 (undo turns it back)", 3000)

    def _show_turned(self, fresh: PageData) -> None:
        """Show a page whose turn changed: its size, regions, and its image decoded anew."""
        self.loader.forget(fresh.page.id)
        self.data = fresh
        self.loader.put(fresh)
        page = fresh.page
        self.canvas.set_page(page.width, page.height, None)
        self.list.model_.crops.set_image(None, page.width)
        self._show_regions(fresh.regions, keep_selection=False, states=fresh.states, polygons=fresh.polygons,
                           layer_paths=fresh.layer_paths)
        self._load_fields()
        if fresh.image_path is not None:
            self.loader.load_images(page.id, fresh.image_path)

    def _propose_turn(self) -> None:
        """Pre-fill read the page's lines turned (the page came in sideways or upside down): say
        which key turns it upright."""
        turn = reading_turn([r.points for r in self.regions.values()]) if len(self.regions) >= 3 else 0
        if turn:
            key = {90: "turn_cw", 270: "turn_ccw"}.get(turn, "turn_cw")
            times = " twice" if turn == 180 else ""
            self.message.emit(f"The text on this page reads turned {turn}\u00b0: "
                              f"{self.keymap.text(key) or 'the toolbar'}{times} turns it upright", 10000)

    # -- key fields of the page (issue 15) -------------------------------------------------------
    def _load_fields(self) -> None:
        """Show the page's key fields as the store holds them (a page opened, reloaded after an
        edit, an undo, a pre-fill or another window's change)."""
        panel = self.fields_panel
        if self.data is None or self.project is None:
            panel.show_fields(None, [], [])
            return
        if self._offline():
            return  # read again when the connection is back
        page_id = self.page_id
        panel.show_fields(page_id, self.list.model_.fields, self.project.store.page_fields(page_id),
                          self.regions.keys())
        self._highlight_field(scroll=False)
        self._fit_fields_panel()

    def _fit_fields_panel(self) -> None:
        """Give the key fields the height their rows need (at most FIELDS_SHARE of the pane),
        until the person drags the handle between the list and them."""
        if self._fields_sized_by_hand:
            return
        total = sum(self.right.sizes())
        if total <= 0:
            return
        panel = self.fields_panel
        width = max(100, panel.width())
        title = panel.title.heightForWidth(width) if panel.title.hasHeightForWidth() else panel.title.sizeHint().height()
        body = panel.view.needed_height() if panel.model_.names else panel.empty.sizeHint().height() + 40
        want = min(title + body + 8, int(total * FIELDS_SHARE))
        if abs(self.right.sizes()[1] - want) > 2:
            self.right.setSizes([total - want, want])

    def _in_fields(self) -> bool:
        focus = QApplication.focusWidget()
        return focus is not None and (focus is self.fields_panel or self.fields_panel.isAncestorOf(focus))

    def _highlight_field(self, scroll: bool = True) -> None:
        """Outline the current field's source regions on the page and bring them into view (the
        region list scrolls to the first; nothing is selected: Ctrl+L takes the selection)."""
        pf = self.fields_panel.current_field()
        ids = [i for i in (pf.value.sources if pf is not None and not pf.absent else ()) if i in self.regions]
        self.canvas.highlight_ids(ids, scroll=scroll)
        if ids and scroll:
            row = self.list.model_.row_of(ids[0])
            if row >= 0:
                self.list.scrollTo(self.list.model_.index(row, 1))

    def toggle_fields_focus(self) -> None:
        """F6: into the key fields (on the first field still to check, the first time on a page);
        from them, back where the focus was (the region list or the page)."""
        view = self.fields_panel.view
        if self._in_fields():
            self.leave_fields()
            return
        if self.data is None:
            return
        focus = QApplication.focusWidget()
        self._focus_before_fields = self.canvas if focus is self.canvas else self.list
        self.list.close_editor(commit=True)
        view.setFocus()
        if view.current_name() is None and view.model_.names:
            todo = [n for n in view.model_.names if not is_checked(view.model_.fields.get(n))]
            view.set_current(todo[0] if todo else view.model_.names[0])
        else:
            self._highlight_field(scroll=True)

    def leave_fields(self) -> None:
        view = self.fields_panel.view
        view.close_editor(commit=True)
        target = self._focus_before_fields
        (target if target is not None and isValid(target) else self.list).setFocus()

    def _field_result(self, name: str) -> None:
        """The field as stored now, shown; said in the status bar."""
        self._load_fields()
        pf = self.fields_panel.model_.fields.get(name)
        if pf is None:
            return
        if pf.absent:
            self.message.emit(f"{name}: not on this page", 3000)
            return
        shown = value_text(name, pf)[0]
        self.message.emit(f"{name}: {pf.text}" + (f"  \u2192  {shown}" if shown else ""), 4000)

    def commit_field_text(self, name: str, text: str) -> bool:
        """A person typed a field's value (Enter): one action; the store keeps the regions it was
        read from and normalises it. False when refused (a stale version: reloaded, said so)."""
        if self.data is None:
            return False
        pf = self.fields_panel.model_.fields.get(name)
        if pf is not None and not pf.absent and pf.text == text:
            return True
        if pf is None and not text.strip():
            return True  # nothing typed into an empty field
        page_id, version = self.page_id, (pf.version if pf is not None else None)
        done = self._act(f"set field {name}", lambda a: a.set_field(page_id, FieldValue(name=name, text=text), version),
                         pending=lambda: -1)
        if done is None:
            return False
        self._field_result(name)
        return True

    def accept_field(self, name: str) -> None:
        """Enter on a field: its value is right as it is (checked, confirmed by this person); then
        the next field. A value this person gave or checked already is left as it is."""
        if self.data is None:
            return
        view = self.fields_panel.view
        pf = view.model_.fields.get(name)
        if pf is None:
            self.message.emit(f"{name}: no value to accept. Type it, take its regions with "
                              f"{self.keymap.text('field_link') or 'the link key'}, or "
                              f"{self.keymap.text('field_absent') or 'the absent key'} if it is not on this page", 8000)
        elif not (is_checked(pf) and pf.confirmed_by == self.user):
            page_id = self.page_id
            if self._act(f"check field {name}", lambda a: a.check_field(page_id, name, pf.version),
                         pending=lambda: -1) is None:
                return
            self._field_result(name)
        view.move(1)

    def mark_field_absent(self) -> None:
        """The current field is not on this page (one action); then the next field."""
        view = self.fields_panel.view
        name = view.current_name()
        if self.data is None or name is None:
            return
        view.close_editor(commit=False)
        pf = view.model_.fields.get(name)
        if not (pf is not None and pf.absent and pf.origin == HUMAN):
            page_id, version = self.page_id, (pf.version if pf is not None else None)
            if self._act(f"field {name} absent", lambda a: a.set_field_absent(page_id, name, version),
                         pending=lambda: -1) is None:
                return
            self._field_result(name)
        view.setFocus()
        view.move(1)

    def link_field(self) -> None:
        """Ctrl+L: the selected regions become the current field's value (their texts in reading
        order joined by a space), or, while a region's text is edited with part of it selected,
        that part of that region (Shift+End selects the amount after "Total")."""
        if self.data is None:
            return
        view = self.fields_panel.view
        name = view.current_name()
        if name is None:
            self.message.emit(f"Choose the field first: {self.keymap.text('fields_focus') or 'the key fields'},"
                              " then Up/Down", 6000)
            return
        ed = self.list.delegate.editor
        rid = self.list.editing_id()
        span = None
        if ed is not None and rid in self.regions and ed.hasSelectedText():
            whole = ed.text()
            start = _py_index(whole, ed.selectionStart())
            end = start + len(ed.selectedText())
            if ed.dirty and not self.list.commit_editor():
                return  # the typing was refused (a conflict): the page is reloaded
            if self.regions[rid].text != whole:
                return
            ids, text, span = [rid], whole[start:end], (start, end)
        else:
            self.commit_pending()
            chosen = set(self.selected_ids())
            ids = [i for i in self._row_ids() if i in chosen]
            if not ids:
                self.message.emit(f"{name}: select its region(s) on the page or in the list first (or part of a"
                                  " line's text), then "
                                  f"{self.keymap.text('field_link') or 'the link key'}", 6000)
                return
            text = " ".join(self.regions[i].text.strip() for i in ids if self.regions[i].text.strip())
        view.close_editor(commit=False)
        pf = view.model_.fields.get(name)
        page_id, version = self.page_id, (pf.version if pf is not None else None)
        value = FieldValue(name=name, text=text, sources=tuple(ids), span=span)
        if self._act(f"set field {name}", lambda a: a.set_field(page_id, value, version), pending=lambda: -1) is None:
            return
        self._field_result(name)
        self._highlight_field(scroll=False)

    # -- undo / redo ---------------------------------------------------------------------------
    def undo(self) -> None:
        self._replay(undo=True)

    def redo(self) -> None:
        self._replay(undo=False)

    def _replay(self, undo: bool) -> None:
        if self.data is None:
            return
        ed = self.list.delegate.editor
        if undo and ed is not None and ed.dirty:  # first undo what is typed and not committed yet
            ed.timer.stop()
            ed.setText(ed.committed_text)
            self.message.emit("Typing discarded", 3000)
            return
        fed = self.fields_panel.view.delegate.editor
        if undo and fed is not None and fed.dirty:  # the same for a field's value being typed
            fed.setText(fed.committed_text)
            self.fields_panel.model_.set_preview(self.fields_panel.view.currentIndex().row(), None)
            self.message.emit("Typing discarded", 3000)
            return
        self.list.close_editor(commit=True)
        self.fields_panel.view.close_editor(commit=True)
        store, page_id, user = self.project.store, self.page_id, self.user

        def replay(s):
            return s.undo(user, page_id) if undo else s.redo(user, page_id)

        if self._offline():
            self._keep_call("undo" if undo else "redo", page_id, replay)
            return
        try:
            if not (store.can_undo(self.user, page_id) if undo else store.can_redo(self.user, page_id)):
                self.message.emit("Nothing to undo" if undo else "Nothing to redo", 3000)
                return
            changed = replay(store)
        except ConflictError as exc:
            # Refused like a stale edit: someone else changed the region (or the page's status)
            # since; nothing was written, the undo stack is as it was, the other change is shown.
            self.message.emit(f"Not {'undone' if undo else 'redone'}: {exc}. The page was reloaded to show the"
                              " other change.", 15000)
            QTimer.singleShot(0, self.reload)
            return
        except ProofdeskError as exc:
            if not is_connection_error(exc):
                raise
            self._keep_call("undo" if undo else "redo", page_id, replay, reason=str(exc))
            return
        self.committed.emit("undo" if undo else "redo")
        self.data.page = store.get_page(page_id)
        self.pageStatusChanged.emit(page_id)
        self.reload()
        visible = [i for i in changed if i in self.regions]
        if visible:
            self.select(visible)
        self.message.emit(("Undone" if undo else "Redone") + (f": {len(changed)} region(s)" if changed else ""), 3000)

    # -- re-recognition ------------------------------------------------------------------------
    def rerecognize(self, ids: list[int], force: bool) -> Worker | None:
        """Read these regions again off the GUI thread; fill in the text unless a person typed it.

        ``force`` (Ctrl+R) re-reads even typed text: the person asked for it, and it is undoable.
        """
        if self.data is None:
            return None
        typed = self.data.typed
        regions = [self.regions[i] for i in ids if i in self.regions and (force or i not in typed)]
        if not regions:
            return None
        page_id = self.page_id
        image = self.data.images[0] if self.data.images else None
        path = self.data.image_path
        quads = [r.points for r in regions]
        wanted = [(r.id, r.version) for r in regions]
        rec = active_rec_folder(self.project)  # the model the lead promoted, as pre-fill reads with

        def job(progress, cancel):
            img = image if image is not None else load_image(path)
            return list(zip(wanted, read_regions(img, quads, rec)))

        worker = Worker(job)
        worker.signals.finished.connect(lambda results: self._on_read(page_id, results, force))
        worker.signals.failed.connect(lambda msg, tb: self.message.emit(f"Re-reading failed: {msg}", 10000))
        start(worker, self.ocr_pool, keep=self.ocr_jobs)
        self.message.emit(f"Reading {len(regions)} region(s)...", 3000)
        return worker

    def _on_read(self, page_id: int, results: list, force: bool) -> None:
        store = self.project.store
        typed = self.data.typed if self.data is not None and page_id == self.page_id else \
            store.typed_region_ids(page_id)
        todo = [((rid, version), text, conf) for (rid, version), (text, conf) in results
                if (force or rid not in typed)]
        if not todo:
            return

        def do(a):
            out = []
            for (rid, version), text, conf in todo:
                try:
                    # a machine reading carries its confidence, like a pre-filled region's: a
                    # garbled read of a box that clips the next line shows as low confidence
                    out.append((rid, a.update_region(rid, version, text=text,
                                                     confidence=None if conf is None else float(conf))))
                except ConflictError:
                    pass  # changed since it was read (moved again, typed): that change wins
            return out

        done = self._act(ACTION_LABEL, do, page_id=page_id, quiet_conflict=True)
        if not done:
            return
        if page_id == self.page_id:
            fresh = [store.get_region(rid) for rid, _ in done]
            for r in fresh:
                self.data.typed.discard(r.id)
                old = self.regions.get(r.id)
                if old is None or old.text != r.text:
                    self.data.checked.discard(r.id)  # the machine's new text: not checked yet
            self._apply_local([r for r in fresh if r.id in self.regions])
            self.message.emit(f"Read {len(done)} region(s) again", 3000)

    # -- lifetime ------------------------------------------------------------------------------
    def wait_for_workers(self, msecs: int = 10000) -> None:
        self.ocr_pool.waitForDone(msecs)
        if self.loader is not None:
            self.loader.wait(msecs)

    def shutdown(self) -> None:
        self.commit_pending()
        self.wait_for_workers()
