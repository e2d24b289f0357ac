"""Annotation formats in and out: PaddleOCR / PPOCRLabel, Label Studio, COCO, CVAT, ICDAR, PAGE XML,
ALTO, hOCR, FUNSD / SROIE / CORD as published, tesstrain, docTR, searchable PDF, fields CSV, and
Proofdesk's own reference JSON. See :mod:`core.formats.base` for the shape every format shares."""

from .base import (  # noqa: F401
    READERS,
    WRITERS,
    AnnotatedPage,
    ExportField,
    ExportOptions,
    ExportPage,
    Line,
    box_points,
    detect,
    load_all,
    reader,
    rect_of,
    register_reader,
    register_writer,
    writer,
)
