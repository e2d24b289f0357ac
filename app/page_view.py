"""The page canvas: the page image with its regions drawn over it; zoom and pan."""

from __future__ import annotations

from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QBrush, QColor, QImage, QPainter, QPen, QPixmap, QPolygonF
from PySide6.QtWidgets import QGraphicsPixmapItem, QGraphicsPolygonItem, QGraphicsScene, QGraphicsView

from core.model import HUMAN, Region

LOW_CONFIDENCE = 0.6

COLOURS = {
    "prefilled": QColor(30, 120, 230),
    "human": QColor(20, 160, 60),
    "low": QColor(230, 60, 40),
    "labelled": QColor(160, 60, 200),
}


def region_colour(region: Region) -> QColor:
    if region.label:
        return COLOURS["labelled"]
    if region.origin == HUMAN:
        return COLOURS["human"]
    if region.confidence is not None and region.confidence < LOW_CONFIDENCE:
        return COLOURS["low"]
    return COLOURS["prefilled"]


class RegionItem(QGraphicsPolygonItem):
    def __init__(self, region: Region):
        super().__init__(QPolygonF([QPointF(x, y) for x, y in region.points]))
        self.region = region
        colour = region_colour(region)
        pen = QPen(colour, 2)
        pen.setCosmetic(True)  # constant on-screen width at any zoom
        self.setPen(pen)
        fill = QColor(colour)
        fill.setAlpha(40)
        self.setBrush(QBrush(fill))
        self.setToolTip(f"{region.text}\n{region.label or ''}")


class PageView(QGraphicsView):
    zoomChanged = Signal(float)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setScene(QGraphicsScene(self))
        self.setRenderHints(QPainter.RenderHint.Antialiasing | QPainter.RenderHint.SmoothPixmapTransform)
        self.setDragMode(QGraphicsView.DragMode.ScrollHandDrag)
        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.AnchorUnderMouse)
        self.setViewportUpdateMode(QGraphicsView.ViewportUpdateMode.SmartViewportUpdate)
        self.setBackgroundBrush(QColor(60, 60, 60))
        self._pixmap_item: QGraphicsPixmapItem | None = None
        self.region_items: list[RegionItem] = []
        self._fit_mode = "page"

    def clear(self) -> None:
        self.scene().clear()
        self._pixmap_item = None
        self.region_items = []

    def set_page(self, image: QImage | str, regions: list[Region]) -> None:
        self.clear()
        pixmap = QPixmap.fromImage(image) if isinstance(image, QImage) else QPixmap(image)
        self._pixmap_item = self.scene().addPixmap(pixmap)
        self._pixmap_item.setTransformationMode(Qt.TransformationMode.SmoothTransformation)
        self.scene().setSceneRect(QRectF(pixmap.rect()))
        self.set_regions(regions)
        self.fit()

    def set_regions(self, regions: list[Region]) -> None:
        for item in self.region_items:
            self.scene().removeItem(item)
        self.region_items = [RegionItem(r) for r in regions]
        for item in self.region_items:
            self.scene().addItem(item)

    # -- zoom ------------------------------------------------------------------------------
    def zoom(self) -> float:
        return self.transform().m11()

    def zoom_by(self, factor: float) -> None:
        new = self.zoom() * factor
        if 0.02 <= new <= 40:
            self.scale(factor, factor)
            self._fit_mode = None
            self.zoomChanged.emit(self.zoom())

    def fit(self, mode: str | None = None) -> None:
        """Fit the page ('page') or its width ('width') into the view."""
        if mode:
            self._fit_mode = mode
        rect = self.sceneRect()
        if rect.isEmpty():
            return
        if self._fit_mode == "width":
            self.resetTransform()
            scale = (self.viewport().width() - 4) / rect.width()
            self.scale(scale, scale)
            self.centerOn(rect.center().x(), rect.top())
        else:
            self.fitInView(rect, Qt.AspectRatioMode.KeepAspectRatio)
        self.zoomChanged.emit(self.zoom())

    def wheelEvent(self, event) -> None:
        # The wheel zooms (around the cursor); dragging pans.
        self.zoom_by(1.15 if event.angleDelta().y() > 0 else 1 / 1.15)

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        if self._fit_mode:
            self.fit()
