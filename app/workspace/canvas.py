"""The page canvas: the page image with its regions over it; zoom, pan, draw, move, resize.

The canvas never writes anything: it shows the regions it is given and reports what the person
did (a box drawn, regions moved or resized, the selection) with signals. The workspace turns
each report into one store action and gives the canvas the stored result back.

Fast at 800 regions on a 24-megapixel page: the image is drawn from a pyramid of pre-scaled
copies (the level nearest the zoom, only the exposed part), regions are plain items with
cosmetic pens, drawn together by one layer item, and the scene has no BSP index to rebuild.
"""

from __future__ import annotations

import math

from PySide6.QtCore import QEvent, QLineF, QPointF, QRectF, Qt, Signal
from PySide6.QtGui import (
    QBrush,
    QColor,
    QCursor,
    QFont,
    QFontMetricsF,
    QImage,
    QMouseEvent,
    QPainter,
    QPainterPath,
    QPen,
    QPolygonF,
)
from PySide6.QtWidgets import (
    QApplication,
    QGraphicsItem,
    QGraphicsPathItem,
    QGraphicsRectItem,
    QGraphicsScene,
    QGraphicsView,
    QStyleOptionGraphicsItem,
    QToolTip,
)

from core.model import Region, box_to_quad, quad_bounds

from .states import COLOURS, PREFILLED

#: Enum members looked up once: PySide6 resolves ``QGraphicsItem.GraphicsItemFlag.X`` through a
#: slow Python descriptor (~30 us each), which cost ~40 ms when creating a page's 800 items.
SELECTABLE = QGraphicsItem.GraphicsItemFlag.ItemIsSelectable
MOVABLE = QGraphicsItem.GraphicsItemFlag.ItemIsMovable
NO_CONTENTS = QGraphicsItem.GraphicsItemFlag.ItemHasNoContents
ORIGIN = QPointF(0, 0)
SELECT, DRAW_RECT, DRAW_QUAD = "select", "rect", "quad"
MIN_BOX = 3.0  # page pixels: a smaller drag is a click, not a box
HANDLE_PX = 9
#: Z (zoom to the region) leaves this many view pixels around it.
ZOOM_MARGIN_PX = 24
#: A page taller than this many times its width opens fitted to its width (fit mode "auto").
TALL_PAGE = 1.2


class PageImageItem(QGraphicsItem):
    """The page image, drawn from the pyramid level that matches the zoom."""

    def __init__(self, width: int, height: int):
        super().__init__()
        self.w, self.h = width, height
        self.levels: list[tuple[float, QImage]] = []  # (scale, image), smallest first
        self.setFlag(QGraphicsItem.GraphicsItemFlag.ItemUsesExtendedStyleOption, True)
        self.setZValue(-1)

    def set_levels(self, images: list[QImage]) -> None:
        self.levels = sorted(((img.width() / self.w, img) for img in images if not img.isNull()),
                             key=lambda t: t[0])
        self.update()

    @property
    def full_resolution(self) -> bool:
        return bool(self.levels) and self.levels[-1][0] >= 0.999

    def boundingRect(self) -> QRectF:
        return QRectF(0, 0, self.w, self.h)

    def paint(self, painter: QPainter, option: QStyleOptionGraphicsItem, widget=None) -> None:
        exposed = option.exposedRect.intersected(self.boundingRect())
        if not self.levels:
            painter.fillRect(exposed, QColor(250, 250, 250))
            return
        lod = QStyleOptionGraphicsItem.levelOfDetailFromTransform(painter.worldTransform())
        scale, image = self.levels[-1]
        for s, img in self.levels:
            if s >= lod * 0.95:
                scale, image = s, img
                break
        src = QRectF(exposed.x() * scale, exposed.y() * scale, exposed.width() * scale, exposed.height() * scale)
        painter.drawImage(exposed, image, src)


class TagItem(QGraphicsItem):
    """The field name of a region: small, semi-transparent, in screen pixels whatever the zoom;
    just above the region's box (below it when there is no room above), never over its text and
    never off the page (``place``, again at every zoom change)."""

    FONT = None
    ALPHA = 175  # of 255: the page shows through

    def __init__(self, text: str, colour: QColor, parent: QGraphicsItem):
        super().__init__(parent)
        if TagItem.FONT is None:
            TagItem.FONT = QFont()
            TagItem.FONT.setPixelSize(10)
            TagItem.FONT.setBold(True)
        self.text = text
        self.colour = colour
        self.fill = QColor(colour)
        self.fill.setAlpha(self.ALPHA)
        fm = QFontMetricsF(TagItem.FONT)
        self.rect = QRectF(0, 0, fm.horizontalAdvance(text) + 6, fm.height() + 1)
        self.setFlag(QGraphicsItem.GraphicsItemFlag.ItemIgnoresTransformations, True)
        self.setAcceptedMouseButtons(Qt.MouseButton.NoButton)

    def boundingRect(self) -> QRectF:
        return self.rect

    def place(self, box: QRectF) -> None:
        """Put the tag above ``box`` (the region's bounds, page pixels), inside the page."""
        scene = self.scene()
        page = scene.sceneRect() if scene is not None else QRectF()
        views = scene.views() if scene is not None else []
        t = views[0].transform() if views else None
        scale = max(1e-6, math.hypot(t.m11(), t.m12())) if t is not None else 1.0
        w, h, gap = self.rect.width() / scale, self.rect.height() / scale, 1.0 / scale
        x, y = box.left(), box.top() - h - gap
        if not page.isEmpty():
            x = max(page.left(), min(x, page.right() - w))
            if y < page.top():  # no room above: under the box
                y = min(box.bottom() + gap, page.bottom() - h)
        self.setPos(x, y)

    def paint(self, painter, option, widget=None) -> None:
        painter.fillRect(self.rect, self.fill)
        painter.setPen(Qt.GlobalColor.white)
        painter.setFont(TagItem.FONT)
        painter.drawText(self.rect, Qt.AlignmentFlag.AlignCenter, self.text)


class RegionItem(QGraphicsItem):
    """One region: its polygon in page pixels, coloured by state.

    Pens and brushes are shared by every item of the same look (800 items a page: creating
    them per item was most of the cost of opening a page), and there is no per-item tooltip:
    the canvas answers tooltip events for the item under the mouse.
    """

    SEL_PEN: QPen | None = None
    SEL_BRUSH: QBrush | None = None
    _styles: dict[tuple[str, bool], tuple[QPen, QBrush]] = {}

    def __init__(self, region: Region, state: str = PREFILLED, polygon: QPolygonF | None = None):
        super().__init__()
        self.setFlag(SELECTABLE, True)
        self.tag: TagItem | None = None
        self.region: Region | None = None
        self.layered = False  # True while the canvas's RegionLayer draws this region
        self.set_region(region, state, polygon)

    @classmethod
    def style(cls, state: str, locked: bool) -> tuple[QPen, QBrush]:
        key = (state, locked)
        found = cls._styles.get(key)
        if found is None:
            colour = COLOURS.get(state, COLOURS[PREFILLED])
            pen = QPen(colour, 1.6)
            pen.setCosmetic(True)  # constant on-screen width at any zoom
            if locked:
                pen.setStyle(Qt.PenStyle.DashLine)
            fill = QColor(colour)
            fill.setAlpha(28)
            found = cls._styles[key] = (pen, QBrush(fill))
        if cls.SEL_PEN is None:
            cls.SEL_PEN = QPen(QColor(255, 200, 0), 3)
            cls.SEL_PEN.setCosmetic(True)
            cls.SEL_BRUSH = QBrush(QColor(255, 200, 0, 50))
        return found

    def set_region(self, region: Region, state: str, polygon: QPolygonF | None = None) -> None:
        """``polygon``: the region's points as a QPolygonF when the caller has it already."""
        old = self.region
        self.prepareGeometryChange()
        self.region = region
        self.state = state
        self.polygon = polygon if polygon is not None else QPolygonF([QPointF(x, y) for x, y in region.points])
        self._rect = self.polygon.boundingRect()
        if old is not None:  # a new item sits at (0, 0) already
            self.setPos(ORIGIN)
        self.pen, self.brush = self._styles.get((state, region.locked)) or self.style(state, region.locked)
        if old is None or old.locked != region.locked:
            self.setFlag(MOVABLE, not region.locked)
        if self.tag is None and not region.label and not region.locked:
            if old is not None:
                self.update()
            return  # the common case: no field name, no lock, no tag to show
        tag_text = (region.label or "") + (" \U0001F512" if region.locked else "")
        if self.tag is not None and (self.tag.text != tag_text or self.tag.colour != self.pen.color()):
            if self.scene() is not None:
                self.scene().removeItem(self.tag)
            self.tag.setParentItem(None)
            self.tag = None
        if tag_text and self.tag is None:
            self.tag = TagItem(tag_text, self.pen.color(), self)
        if self.tag is not None:
            self.tag.place(self._rect)
        if old is not None:
            self.update()

    def set_layered(self, layered: bool) -> None:
        """Drawn by the RegionLayer (or not). A layered item is flagged as having no contents:
        the view then skips it when painting (no Python ``paint`` call, no per-item painting
        set-up; 800 of them made the first paint of a page ~15 ms slower) yet it still takes
        hit tests, selection and moves."""
        if layered != self.layered:
            self.layered = layered
            self.setFlag(NO_CONTENTS, layered)

    def tooltip(self) -> str:
        return f"{self.region.text}\n{self.region.label or ''}".strip()

    @property
    def region_id(self) -> int:
        return self.region.id

    def set_polygon(self, polygon: QPolygonF) -> None:
        """Preview a new shape while a handle is dragged (nothing is stored yet)."""
        self.prepareGeometryChange()
        self.polygon = polygon
        self._rect = polygon.boundingRect()
        if self.tag is not None:
            self.tag.place(self._rect)

    def scene_points(self) -> list[tuple[float, float]]:
        off = self.pos()
        return [(round(p.x() + off.x(), 1), round(p.y() + off.y(), 1)) for p in self.polygon]

    def boundingRect(self) -> QRectF:
        return self._rect

    def shape(self) -> QPainterPath:
        path = QPainterPath()
        path.addPolygon(self.polygon)
        path.closeSubpath()
        return path

    def paint(self, painter, option, widget=None) -> None:
        selected = self.isSelected()
        if self.layered and not selected:
            return  # drawn by the RegionLayer with every other region of its look
        painter.setPen(self.SEL_PEN if selected else self.pen)
        painter.setBrush(self.SEL_BRUSH if selected else self.brush)
        painter.drawPolygon(self.polygon)


class RegionLayer(QGraphicsItem):
    """Draws every region that is not selected, one path per look: a handful of C++ draw calls
    instead of one Python ``paint`` per region (800 of them made a repaint ~20 ms slower).

    The region items stay in the scene for hit tests, selection, moves and tooltips; a selected
    or moving item draws itself on top.
    """

    def __init__(self, width: float, height: float, items):
        super().__init__()
        self.rect = QRectF(0, 0, width, height)
        self.items = items  # the canvas's {region id: RegionItem}, read at rebuild time
        self.paths: list[tuple[QPen, QBrush, QPainterPath]] = []
        self.dirty = True
        self.setZValue(-0.5)  # over the image, under the region items and their handles
        self.setAcceptedMouseButtons(Qt.MouseButton.NoButton)

    def adopt(self, paths: dict, fresh: bool = False) -> None:
        """Take outlines built elsewhere ({(state, locked): path} of every region), when no
        region is selected or moving; otherwise build them at the next paint as usual.
        ``fresh``: the caller has just placed every item and selected none (no need to look)."""
        items = list(self.items.values())
        if not fresh and any(item.isSelected() or item.pos() != ORIGIN for item in items):
            return
        self.paths = [(*RegionItem.style(state, locked), path) for (state, locked), path in paths.items()]
        for item in items:
            item.set_layered(True)
        self.dirty = False
        self.update()

    def invalidate(self) -> None:
        """Regions or the selection changed: rebuild the paths at the next paint (once, however
        many changes come before it; an edit then costs no path building of its own)."""
        self.dirty = True
        self.update()

    def rebuild(self) -> None:
        self.dirty = False
        items = self.items.values()
        groups: dict[tuple[int, int], tuple[QPen, QBrush, QPainterPath]] = {}
        for item in items:
            if item.isSelected() or item.pos() != ORIGIN:
                item.set_layered(False)
                continue
            key = (id(item.pen), id(item.brush))
            group = groups.get(key)
            if group is None:
                group = groups[key] = (item.pen, item.brush, QPainterPath())
            group[2].addPolygon(item.polygon)
            group[2].closeSubpath()
            item.set_layered(True)
        self.paths = list(groups.values())

    def boundingRect(self) -> QRectF:
        return self.rect

    def paint(self, painter, option, widget=None) -> None:
        if self.dirty:
            self.rebuild()
        for pen, brush, path in self.paths:
            painter.setPen(pen)
            painter.setBrush(brush)
            painter.drawPath(path)


class HandleItem(QGraphicsItem):
    """A square to drag a corner or an edge of the selected region; fixed size on screen."""

    def __init__(self, owner: RegionItem, index: int):
        super().__init__()
        self.owner = owner
        self.index = index
        self.setFlag(QGraphicsItem.GraphicsItemFlag.ItemIgnoresTransformations, True)
        self.setZValue(10)
        h = HANDLE_PX / 2
        self.rect = QRectF(-h, -h, HANDLE_PX, HANDLE_PX)
        self.setCursor(Qt.CursorShape.SizeAllCursor if index < 4 else (
            Qt.CursorShape.SizeVerCursor if index in (4, 6) else Qt.CursorShape.SizeHorCursor))

    def boundingRect(self) -> QRectF:
        return self.rect

    def paint(self, painter, option, widget=None) -> None:
        painter.setPen(QPen(QColor(40, 40, 40), 1))
        painter.setBrush(QColor(255, 220, 60))
        painter.drawRect(self.rect)


def is_axis_aligned(points) -> bool:
    (x0, y0), (x1, y1), (x2, y2), (x3, y3) = points
    return abs(y0 - y1) < 0.5 and abs(x1 - x2) < 0.5 and abs(y2 - y3) < 0.5 and abs(x3 - x0) < 0.5


def order_quad(points: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """Four clicked corners, in any order, to clockwise from the top-left.

    >>> order_quad([(10, 10), (0, 10), (10, 0), (0, 0)])
    [(0, 0), (10, 0), (10, 10), (0, 10)]
    """
    cx = sum(p[0] for p in points) / 4
    cy = sum(p[1] for p in points) / 4
    pts = sorted(points, key=lambda p: math.atan2(p[1] - cy, p[0] - cx))  # clockwise on screen (y down)
    start = min(range(4), key=lambda i: pts[i][0] + pts[i][1])
    return pts[start:] + pts[:start]


class PageCanvas(QGraphicsView):
    zoomChanged = Signal(float)
    selectionChangedIds = Signal(list)  # region ids, canvas order
    geometryEdited = Signal(object)  # {region id: new points} (a dict with int keys: not Signal(dict))
    regionDrawn = Signal(list)  # 4 points, clockwise from top-left
    modeChanged = Signal(str)
    activated = Signal(int)  # a region double-clicked: edit its text

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setScene(QGraphicsScene(self))
        # No BSP index: building it for 800 new items cost ~13 ms on the first paint of every
        # page; a linear scan of a page's items for paints and hit tests costs far less.
        self.scene().setItemIndexMethod(QGraphicsScene.ItemIndexMethod.NoIndex)
        self.setRenderHints(QPainter.RenderHint.SmoothPixmapTransform)
        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.AnchorUnderMouse)
        self.setResizeAnchor(QGraphicsView.ViewportAnchor.AnchorViewCenter)
        self.setViewportUpdateMode(QGraphicsView.ViewportUpdateMode.SmartViewportUpdate)
        self.setOptimizationFlag(QGraphicsView.OptimizationFlag.DontSavePainterState, True)
        self.setBackgroundBrush(QColor(70, 72, 76))
        self.setDragMode(QGraphicsView.DragMode.RubberBandDrag)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.image_item: PageImageItem | None = None
        self.layer: RegionLayer | None = None
        self.items_by_id: dict[int, RegionItem] = {}
        self.order: list[int] = []
        self.handles: list[HandleItem] = []
        self._spare: list[RegionItem] = []  # region items of earlier pages, hidden, to reuse
        self.mode = SELECT
        self._fit_mode: str | None = "auto"
        self._syncing = False
        self._press_pos = None
        self._resizing: tuple[RegionItem, int, list[tuple[float, float]]] | None = None
        self._drawing_start: QPointF | None = None
        self._preview: QGraphicsItem | None = None
        self._quad_points: list[tuple[float, float]] = []
        self._pan_from = None
        self._space = False
        #: The regions outlined as the sources of the key field chosen in the fields panel.
        self.highlighted: list[int] = []
        self._highlight: QGraphicsPathItem | None = None
        self.highlight_colour = QColor(232, 40, 190)
        self.scene().selectionChanged.connect(self._on_scene_selection)
        self.zoomChanged.connect(lambda _z: self._place_tags())  # tags are sized in screen pixels

    # -- page and regions ------------------------------------------------------------------
    @property
    def region_items(self) -> list[RegionItem]:
        return [self.items_by_id[i] for i in self.order if i in self.items_by_id]

    def clear(self) -> None:
        """Empty the canvas. Region items stay in the scene, hidden, for the next page to reuse:
        creating and destroying a page's 800 QGraphicsItems was ~20 ms of every page change."""
        self._cancel_drawing()
        self._syncing = True
        self._drop_handles()
        scene = self.scene()
        scene.clearSelection()
        for item in self.items_by_id.values():
            item.setVisible(False)
            self._spare.append(item)
        for item in (self.image_item, self.layer, self._highlight):
            if item is not None and item.scene() is not None:
                scene.removeItem(item)
        self._highlight = None
        self.highlighted = []
        self._syncing = False
        self.image_item = None
        self.layer = None
        self.items_by_id = {}
        self.order = []
        scene.setSceneRect(QRectF())

    def set_page(self, width: int, height: int, images: list[QImage] | None = None) -> None:
        """A new page: its size now, its image now or later (``set_images``)."""
        self.clear()
        self.image_item = PageImageItem(width, height)
        self.scene().addItem(self.image_item)
        self.layer = RegionLayer(width, height, self.items_by_id)
        self.scene().addItem(self.layer)
        self.scene().setSceneRect(QRectF(0, 0, width, height))
        if images:
            self.image_item.set_levels(images)
        self.fit(self._fit_mode or "auto")

    def set_images(self, images: list[QImage]) -> None:
        if self.image_item is not None:
            self.image_item.set_levels(images)

    def has_image(self, full: bool = False) -> bool:
        if self.image_item is None or not self.image_item.levels:
            return False
        return self.image_item.full_resolution if full else True

    def sync(self, regions: list[Region], states: dict[int, str], polygons: dict | None = None,
             layer_paths: dict | None = None) -> None:
        """Show exactly these regions: add new ones, update changed ones, drop the rest.

        ``polygons`` ({id: QPolygonF}) and ``layer_paths`` ({(state, locked): QPainterPath} of
        exactly these regions), both optional, save building them here."""
        polygons = polygons or {}
        selected = set(self.selected_ids())
        self._syncing = True
        try:
            self._drop_handles()
            scene = self.scene()
            keep = set()
            placed = 0  # items given their region just now (at rest, unselected)
            for r in regions:
                keep.add(r.id)
                state = states.get(r.id, PREFILLED)
                item = self.items_by_id.get(r.id)
                if item is None:
                    placed += 1
                    if self._spare:
                        item = self._spare.pop()
                        item.set_region(r, state, polygons.get(r.id))
                        item.setVisible(True)
                    else:
                        item = RegionItem(r, state, polygons.get(r.id))
                        scene.addItem(item)
                    self.items_by_id[r.id] = item
                elif item.region != r or item.state != state or item.pos() != ORIGIN:
                    item.set_region(r, state, polygons.get(r.id))
                if r.id in selected and not item.isSelected():
                    item.setSelected(True)
            for rid in [i for i in self.items_by_id if i not in keep]:
                scene.removeItem(self.items_by_id.pop(rid))
            self.order = [r.id for r in regions]
        finally:
            self._syncing = False
        self._place_tags()
        self._update_handles()
        if self.highlighted:
            self.highlight_ids(self.highlighted, scroll=False)
        if layer_paths is not None and self.layer is not None:
            self.layer.adopt(layer_paths, fresh=not selected and placed == len(self.items_by_id))

    def update_regions(self, regions: list[Region], states: dict[int, str]) -> None:
        """Show new versions of regions already on the canvas (text, label, lock): no full sync."""
        self._syncing = True
        try:
            for r in regions:
                item = self.items_by_id.get(r.id)
                if item is not None:
                    item.set_region(r, states.get(r.id, PREFILLED))
        finally:
            self._syncing = False
        self._place_tags()
        self._update_handles()

    def viewportEvent(self, event) -> bool:
        if event.type() == QEvent.Type.ToolTip:
            item = self._region_at(event.pos())
            if item is not None:
                QToolTip.showText(event.globalPos(), item.tooltip(), self)
            else:
                QToolTip.hideText()
            return True
        return super().viewportEvent(event)

    def _place_tags(self) -> None:
        """Field tags above their regions, inside the page, for the zoom now (few: labelled ones)."""
        for item in self.items_by_id.values():
            if item.tag is not None:
                item.tag.place(item._rect)

    # -- selection -------------------------------------------------------------------------
    def selected_ids(self) -> list[int]:
        return [i for i in self.order if i in self.items_by_id and self.items_by_id[i].isSelected()]

    def select_ids(self, ids: list[int], scroll: bool = True) -> None:
        """Select these regions (quietly: no selectionChangedIds) and bring the first into view."""
        self._syncing = True
        try:
            want = set(ids)
            for item in self.scene().selectedItems():
                if getattr(item, "region", None) is None or item.region.id not in want:
                    item.setSelected(False)
            for rid in ids:
                item = self.items_by_id.get(rid)
                if item is not None:
                    item.setSelected(True)
        finally:
            self._syncing = False
        self._update_handles()
        if scroll and ids and ids[0] in self.items_by_id:
            self.ensureVisible(self.items_by_id[ids[0]].sceneBoundingRect(), 60, 60)

    def highlight_ids(self, ids: list[int], scroll: bool = True) -> None:
        """Outline these regions (the current key field's sources) in ``highlight_colour``, over
        their state colour and apart from the selection; bring them into view. [] removes it."""
        self.highlighted = [i for i in ids if i in self.items_by_id]
        if not self.highlighted:
            if self._highlight is not None and self._highlight.scene() is not None:
                self.scene().removeItem(self._highlight)
            self._highlight = None
            return
        path = QPainterPath()
        for rid in self.highlighted:
            item = self.items_by_id[rid]
            path.addPolygon(item.polygon.translated(item.pos()))
            path.closeSubpath()
        if self._highlight is None:
            self._highlight = QGraphicsPathItem()
            pen = QPen(self.highlight_colour, 3, Qt.PenStyle.DashLine)
            pen.setCosmetic(True)
            self._highlight.setPen(pen)
            fill = QColor(self.highlight_colour)
            fill.setAlpha(40)
            self._highlight.setBrush(fill)
            self._highlight.setZValue(5)  # over the regions, under the handles
            self._highlight.setAcceptedMouseButtons(Qt.MouseButton.NoButton)
            self.scene().addItem(self._highlight)
        self._highlight.setPath(path)
        if scroll:
            self.ensureVisible(path.boundingRect(), 60, 60)

    def _on_scene_selection(self) -> None:
        if self._syncing:
            return
        self._update_handles()
        self.selectionChangedIds.emit(self.selected_ids())

    # -- handles ---------------------------------------------------------------------------
    def _drop_handles(self) -> None:
        for h in self.handles:
            if h.scene() is not None:
                self.scene().removeItem(h)
        self.handles = []

    def _update_handles(self) -> None:
        """Handles for a single selected region; and the layer redrawn without the selected."""
        if self.layer is not None:
            self.layer.invalidate()
        self._drop_handles()
        sel = [self.items_by_id[i] for i in self.selected_ids()]
        if len(sel) != 1 or sel[0].region.locked:
            return
        item = sel[0]
        pts = item.scene_points()
        n = 8 if is_axis_aligned(pts) else 4
        for i in range(n):
            h = HandleItem(item, i)
            self.scene().addItem(h)
            self.handles.append(h)
        self._place_handles()

    def _place_handles(self) -> None:
        if not self.handles:
            return
        pts = self.handles[0].owner.scene_points()
        for h in self.handles:
            if h.index < 4:
                h.setPos(*pts[h.index])
            else:
                a, b = pts[h.index - 4], pts[(h.index - 3) % 4]
                h.setPos((a[0] + b[0]) / 2, (a[1] + b[1]) / 2)

    def _resized_points(self, start: list[tuple[float, float]], index: int, p: QPointF):
        x = min(max(p.x(), 0.0), self.sceneRect().width())
        y = min(max(p.y(), 0.0), self.sceneRect().height())
        if len(self.handles) == 4:  # a free quadrilateral: move one corner
            pts = list(start)
            pts[index] = (x, y)
            return pts
        x0, y0, x1, y1 = quad_bounds(start)
        if index in (0, 3, 7):
            x0 = x
        if index in (1, 2, 5):
            x1 = x
        if index in (0, 1, 4):
            y0 = y
        if index in (2, 3, 6):
            y1 = y
        x0, x1 = sorted((x0, x1))
        y0, y1 = sorted((y0, y1))
        return list(box_to_quad(x0, y0, x1, y1))

    # -- modes -----------------------------------------------------------------------------
    def set_mode(self, mode: str) -> None:
        self._cancel_drawing()
        self.mode = mode
        if mode == SELECT:
            self.setDragMode(QGraphicsView.DragMode.RubberBandDrag)
            self.viewport().unsetCursor()
        else:
            self.setDragMode(QGraphicsView.DragMode.NoDrag)
            self.viewport().setCursor(Qt.CursorShape.CrossCursor)
        self.modeChanged.emit(mode)

    def _cancel_drawing(self) -> None:
        if self._preview is not None and self._preview.scene() is not None:
            self.scene().removeItem(self._preview)
        self._preview = None
        self._drawing_start = None
        self._quad_points = []

    def _preview_pen(self) -> QPen:
        pen = QPen(COLOURS["human"], 2, Qt.PenStyle.DashLine)
        pen.setCosmetic(True)
        return pen

    # -- mouse -----------------------------------------------------------------------------
    @staticmethod
    def _shift_as_ctrl(event: QMouseEvent) -> QMouseEvent:
        """Qt adds to a selection with Ctrl; annotators expect Shift too."""
        mods = event.modifiers()
        if not mods & Qt.KeyboardModifier.ShiftModifier:
            return event
        mods = (mods & ~Qt.KeyboardModifier.ShiftModifier) | Qt.KeyboardModifier.ControlModifier
        return QMouseEvent(event.type(), event.position(), event.scenePosition(), event.globalPosition(),
                           event.button(), event.buttons(), mods)

    def mousePressEvent(self, event: QMouseEvent) -> None:
        if event.button() == Qt.MouseButton.MiddleButton or (
                self._space and event.button() == Qt.MouseButton.LeftButton):
            self._pan_from = event.position()
            self.viewport().setCursor(Qt.CursorShape.ClosedHandCursor)
            return
        if event.button() != Qt.MouseButton.LeftButton:
            return super().mousePressEvent(event)
        sp = self.mapToScene(event.position().toPoint())
        if self.mode == DRAW_RECT:
            self._drawing_start = sp
            self._preview = QGraphicsRectItem(QRectF(sp, sp))
            self._preview.setPen(self._preview_pen())
            self.scene().addItem(self._preview)
            return
        if self.mode == DRAW_QUAD:
            self._quad_points.append((sp.x(), sp.y()))
            if len(self._quad_points) == 4:
                pts = order_quad(self._quad_points)
                self._cancel_drawing()
                self.set_mode(SELECT)
                self.regionDrawn.emit(pts)
            else:
                self._update_quad_preview(sp)
            return
        item = self.itemAt(event.position().toPoint())
        if isinstance(item, HandleItem):
            self._resizing = (item.owner, item.index, item.owner.scene_points())
            return
        self._press_pos = event.position()
        super().mousePressEvent(self._shift_as_ctrl(event))

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        if self._pan_from is not None:
            delta = event.position() - self._pan_from
            self._pan_from = event.position()
            self.horizontalScrollBar().setValue(self.horizontalScrollBar().value() - int(delta.x()))
            self.verticalScrollBar().setValue(self.verticalScrollBar().value() - int(delta.y()))
            return
        sp = self.mapToScene(event.position().toPoint())
        if self._drawing_start is not None and isinstance(self._preview, QGraphicsRectItem):
            self._preview.setRect(QRectF(self._drawing_start, sp).normalized())
            return
        if self.mode == DRAW_QUAD and self._quad_points:
            self._update_quad_preview(sp)
            return
        if self._resizing is not None:
            owner, index, start = self._resizing
            pts = self._resized_points(start, index, sp)
            owner.set_polygon(QPolygonF([QPointF(x, y) for x, y in pts]))
            self._place_handles()
            return
        if event.buttons() & Qt.MouseButton.LeftButton and self.handles:
            self._drop_handles()  # a move is starting; handles come back with the stored result
        super().mouseMoveEvent(self._shift_as_ctrl(event))

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        if self._pan_from is not None:
            self._pan_from = None
            self.viewport().setCursor(Qt.CursorShape.OpenHandCursor if self._space else Qt.CursorShape.ArrowCursor)
            return
        if self._drawing_start is not None:
            rect = self._preview.rect() if isinstance(self._preview, QGraphicsRectItem) else QRectF()
            self._cancel_drawing()
            self.set_mode(SELECT)
            rect = rect.intersected(self.sceneRect())
            if rect.width() >= MIN_BOX and rect.height() >= MIN_BOX:
                self.regionDrawn.emit([(round(x, 1), round(y, 1)) for x, y in box_to_quad(
                    rect.left(), rect.top(), rect.right(), rect.bottom())])
            return
        if self._resizing is not None:
            owner, _, start = self._resizing
            self._resizing = None
            pts = owner.scene_points()
            if any(abs(a[0] - b[0]) >= 0.5 or abs(a[1] - b[1]) >= 0.5 for a, b in zip(pts, start)):
                self.geometryEdited.emit({owner.region.id: pts})
            return
        super().mouseReleaseEvent(self._shift_as_ctrl(event))
        moved = {rid: item for rid, item in self.items_by_id.items() if item.pos() != ORIGIN}
        press, self._press_pos = self._press_pos, None
        if not moved:
            self._update_handles()
            return
        small = press is not None and (event.position() - press).manhattanLength() < QApplication.startDragDistance()
        if small:  # a click that wobbled: not a move
            for item in moved.values():
                item.setPos(0, 0)
            self._update_handles()
            return
        self.geometryEdited.emit({rid: item.scene_points() for rid, item in moved.items()})

    def _region_at(self, pos) -> RegionItem | None:
        """The region under a view point (its tag counts; the field highlight does not)."""
        for item in self.items(pos):
            if item is self._highlight:
                continue
            while item is not None and not isinstance(item, RegionItem):
                item = item.parentItem()
            return item
        return None

    def mouseDoubleClickEvent(self, event) -> None:
        item = self._region_at(event.position().toPoint())
        if isinstance(item, RegionItem):
            self.activated.emit(item.region.id)
            return
        super().mouseDoubleClickEvent(event)

    def _update_quad_preview(self, cursor: QPointF) -> None:
        path = QPainterPath()
        pts = [QPointF(x, y) for x, y in self._quad_points] + [cursor]
        path.moveTo(pts[0])
        for p in pts[1:]:
            path.lineTo(p)
        if self._preview is None:
            self._preview = QGraphicsPathItem()
            self._preview.setPen(self._preview_pen())
            self.scene().addItem(self._preview)
        self._preview.setPath(path)

    # -- keys ------------------------------------------------------------------------------
    def keyPressEvent(self, event) -> None:
        if event.key() == Qt.Key.Key_Escape:
            if self.mode != SELECT or self._resizing is not None:
                self._resizing = None
                self.set_mode(SELECT)
            else:
                self.select_ids([])
                self.selectionChangedIds.emit([])
            return
        if event.key() == Qt.Key.Key_Space and not event.isAutoRepeat():
            self._space = True
            self.viewport().setCursor(Qt.CursorShape.OpenHandCursor)
            return
        super().keyPressEvent(event)

    def keyReleaseEvent(self, event) -> None:
        if event.key() == Qt.Key.Key_Space and not event.isAutoRepeat():
            self._space = False
            self.viewport().setCursor(QCursor(Qt.CursorShape.CrossCursor if self.mode != SELECT
                                              else Qt.CursorShape.ArrowCursor))
            return
        super().keyReleaseEvent(event)

    # -- zoom ------------------------------------------------------------------------------
    def zoom(self) -> float:
        return self.transform().m11()

    def zoom_by(self, factor: float) -> None:
        new = self.zoom() * factor
        if 0.01 <= new <= 40:
            self.scale(factor, factor)
            self._fit_mode = None
            self.zoomChanged.emit(self.zoom())

    def fit(self, mode: str | None = None) -> None:
        """Fit the page ('page') or its width ('width') into the view; 'auto' (a page opened
        before any fit was asked for): the width of a tall page (A4 read at 20 % of its size when
        shown whole), else the whole page."""
        if mode:
            self._fit_mode = mode
        rect = self.sceneRect()
        if rect.isEmpty():
            return
        if self._fit_mode == "width" or (self._fit_mode == "auto" and rect.height() > TALL_PAGE * rect.width()):
            self.resetTransform()
            scale = (self.viewport().width() - 4) / rect.width()
            self.scale(scale, scale)
            self.centerOn(rect.center().x(), rect.top() + self.viewport().height() / scale / 2)
        else:
            self.fitInView(rect, Qt.AspectRatioMode.KeepAspectRatio)
        self.zoomChanged.emit(self.zoom())

    def zoom_to(self, region_id: int) -> None:
        """Zoom so the region fills the view's width less a margin (or its height, for a tall
        region; never past 400 %), and centre it. Never zooms out while the region fits the view
        at the zoom there is now: a wide line shown whole stays at that zoom, only centred."""
        item = self.items_by_id.get(region_id)
        if item is None:
            return
        r = item.sceneBoundingRect()
        room_w = max(1.0, self.viewport().width() - 2.0 * ZOOM_MARGIN_PX)
        room_h = max(1.0, self.viewport().height() - 2.0 * ZOOM_MARGIN_PX)
        shown = self.mapFromScene(r).boundingRect()  # the region at this zoom, in view pixels
        t = self.transform()
        now = max(1e-6, math.hypot(t.m11(), t.m12()))  # the zoom, whatever the view's rotation
        factor = min(room_w / max(1.0, shown.width()), room_h / max(1.0, shown.height()), 4.0 / now)
        if factor < 1.0 and shown.width() <= room_w and shown.height() <= room_h:
            factor = 1.0
        self.scale(factor, factor)
        self._fit_mode = None
        self.centerOn(r.center())
        self.zoomChanged.emit(self.zoom())

    def wheelEvent(self, event) -> None:
        # The wheel zooms around the cursor; panning is a middle drag or Space + drag.
        dy = event.angleDelta().y()
        if dy:
            self.zoom_by(1.15 if dy > 0 else 1 / 1.15)

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        if self._fit_mode:
            self.fit()


def distance(a: QPointF, b: QPointF) -> float:
    return QLineF(a, b).length()
