"""The Qt binding does not leak references to None.

PySide6 6.12.0 on Python 3.11 dropped one reference to None on every call of a void method
(QPen.setCosmetic, QGraphicsItem.setPos...): drawing a page of 800 regions a few times aborted
the app with "none_dealloc". None is immortal from Python 3.12 on, so this only bites on 3.11,
which the product ships. A version bump that brings such a bug back fails here.
"""

from __future__ import annotations

import sys

from PySide6.QtCore import QPointF
from PySide6.QtGui import QColor, QPen
from PySide6.QtWidgets import QGraphicsRectItem

from app.workspace.canvas import RegionItem
from core.model import Region, box_to_quad


def none_refs_lost(call, n=2000) -> int:
    for _ in range(10):
        call()
    before = sys.getrefcount(None)
    for _ in range(n):
        call()
    return before - sys.getrefcount(None)


def test_void_methods_keep_none_alive(qapp):
    pen = QPen(QColor(1, 2, 3), 1.5)
    colour = QColor(1, 2, 3)
    item = QGraphicsRectItem(0, 0, 10, 10)
    # A few references may come and go with caches; a leak per call would show as ~2000.
    assert none_refs_lost(lambda: pen.setCosmetic(True)) < 100
    assert none_refs_lost(lambda: colour.setAlpha(28)) < 100
    assert none_refs_lost(lambda: item.setPos(QPointF(1, 2))) < 100


def test_drawing_many_regions_keeps_none_alive(qapp):
    region = Region(page_id=1, points=box_to_quad(0, 0, 10, 10), text="x", id=1)
    assert none_refs_lost(lambda: RegionItem(region), n=500) < 100
