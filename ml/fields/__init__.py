"""Key fields: candidates, zero-shot rules, the learned model, scoring. Qt-free.

    from ml.fields import extract, page_of, lines_from
    page = page_of(lines_from((r.points, r.text) for r in regions), width, height)
    values = extract(page, schema, model)          # list[core.fields.FieldValue]
"""

from .extract import extract, page_of, scored_fields
from .lines import FLine, Page, lines_from

__all__ = ["extract", "page_of", "scored_fields", "FLine", "Page", "lines_from"]
