"""The SQL of PDF text layers (``core/textlayer.py``), as methods of the store.

The importer writes a page's text layer in the document's own transaction; pre-fill reads which
pages have a usable one, and each one's lines. The methods use ``self.conn`` / ``self.query`` /
``self.transaction()`` like the rest of the store: a write opens its own transaction, and inside an
open one (``with store.transaction():``) joins it.

Every statement is written once in the SQL both backends share (docs/adr/0006).
"""

from __future__ import annotations

from collections.abc import Iterable

from .textlayer import TextLayer


class TextLayerQueries:
    """Text layer SQL; mixed into :class:`core.store.Store` (which gives it ``conn``, ``query`` and
    ``transaction``)."""

    def set_text_layer(self, page_id: int, layer: TextLayer) -> None:
        """Store (or replace) the text layer of a page."""
        import json

        with self.transaction() as c:
            c.execute(
                "INSERT INTO text_layers (page_id, lines, image_areas, glyphs, usable, reason, stats, source)"
                " VALUES (?,?,?,?,?,?,?,?) ON CONFLICT(page_id) DO UPDATE SET lines = excluded.lines,"
                " image_areas = excluded.image_areas, glyphs = excluded.glyphs, usable = excluded.usable,"
                " reason = excluded.reason, stats = excluded.stats, source = excluded.source",
                (page_id, layer.lines_json(), layer.image_areas_json(), int(layer.glyphs), int(bool(layer.usable)),
                 layer.reason, json.dumps(layer.stats, sort_keys=True), layer.source))

    def text_layer(self, page_id: int) -> TextLayer | None:
        """The page's text layer; None for a page that has none (an image, a PDF page that could not
        be read)."""
        row = self.conn.execute(
            "SELECT lines, image_areas, glyphs, usable, reason, stats, source FROM text_layers WHERE page_id = ?",
            (page_id,)).fetchone()
        if row is None:
            return None
        return TextLayer.from_json(row["lines"], row["image_areas"], row["glyphs"], bool(row["usable"]),
                                   row["reason"], row["source"], row["stats"])

    def text_layer_pages(self, page_ids: Iterable[int] | None = None) -> dict[int, tuple[bool, bool]]:
        """Page id -> (its text layer is usable, it has image areas), for the pages that have a text
        layer (of ``page_ids``, or all)."""
        sql = "SELECT page_id, usable, image_areas FROM text_layers"
        if page_ids is None:
            rows = self.query(sql)
        else:
            ids = sorted(set(page_ids))
            rows = []
            for k in range(0, len(ids), 500):
                chunk = ids[k:k + 500]
                rows += self.query(f"{sql} WHERE page_id IN ({','.join('?' * len(chunk))})", chunk)
        return {r["page_id"]: (bool(r["usable"]), r["image_areas"].strip() not in ("", "[]")) for r in rows}

    def document_has_text_layers(self, document_id: int) -> bool:
        """Whether any page of the document has a text layer row."""
        return bool(self.query(
            "SELECT 1 FROM text_layers t JOIN pages p ON p.id = t.page_id WHERE p.document_id = ? LIMIT 1",
            (document_id,)))
