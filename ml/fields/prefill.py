"""Fields at pre-fill: the project's schema read from the page's predicted regions.

``FieldReader.for_project(project)`` loads the schema and the project's active field model (the
registry's ``fields`` task; with its form model when a run learned the project's forms) once per
pre-fill; ``reader.apply(prediction, page)`` returns the prediction with its ``fields`` (sources
are indexes into its regions) and a form's regions labelled. Without a model the zero-shot rules
read them. It runs in the process that writes the pages (a few ms a page).
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from typing import Sequence

from core import registry
from core.fields import many_valued
from core.model import Page as CorePage
from core.model import Prediction

from .extract import extract, page_of
from .lines import lines_from
from .model import FieldModel
from .vocabulary import read_lines

log = logging.getLogger(__name__)

#: The registry task of field models.
FIELDS_TASK = registry.FIELDS


def _active(project, what: str, load, needs: str | None = None):
    """(what ``load`` reads from the folder of the project's active field version, its name);
    (None, None) without one, when the folder lacks ``needs``, or when it cannot be read (logged:
    pre-fill goes on with the rules)."""
    from ml.training.active import active_model

    active = active_model(project, FIELDS_TASK)
    if active.shipped or active.folder is None or (needs and not (active.folder / needs).exists()):
        return None, None
    try:
        return load(active.folder), active.name
    except ValueError as exc:
        log.warning("%s %s not used: %s", what, active.name, exc)
        return None, None


def active_field_model(project) -> tuple[FieldModel | None, str | None]:
    """(the project's active field model, its version name), (None, None) when it has none.

    A model folder that cannot be read is logged and left out: pre-fill goes on with the rules.
    """
    return _active(project, "field model", FieldModel.load)


def active_form_model(project):
    """(the form model of the project's active field version, its version name): the
    ``EntityModel`` a run learned from the project's labelled form regions
    (``ml.training.forms``), (None, None) when the active version has none (the zero-shot rules
    label forms). One that cannot be read is logged and left out, as a field model is."""
    from .entities import EntityModel

    return _active(project, "form model", EntityModel.load, needs="entities.json")


def regions_page(regions, width: float, height: float, model=None):
    """A page of regions (anything with ``points`` and ``text``) as the field reader reads it; with
    ``model`` (a learned field model), an OCR's regions: their words read through the model's
    vocabulary (``ml.fields.vocabulary``: one look-alike character put right)."""
    lines = lines_from((r.points, r.text) for r in regions)
    return page_of(lines if model is None else read_lines(lines, model), width, height)


def regions_units(regions, width: float, height: float):
    """A page of regions as a form's labelling reads it: one unit a region
    (``ml.fields.entities.units_of``; ``page.sources[u.index][0]`` is the region's index)."""
    from .entities import units_of

    return units_of(lines_from((r.points, r.text) for r in regions), width, height)


@dataclass
class FieldReader:
    schema: Sequence[str]
    model: FieldModel | None = None
    version: str | None = None
    #: The learned form model (``ml.fields.entities.EntityModel``); None: the zero-shot rules.
    forms: object | None = None

    @classmethod
    def for_project(cls, project) -> "FieldReader":
        schema = list(project.store.fields())
        model, version = active_field_model(project)
        forms = active_form_model(project)[0] if any(many_valued(n) for n in schema) else None
        return cls(schema, model, version, forms)

    def apply(self, prediction: Prediction, page: CorePage) -> Prediction:
        """The prediction with its fields read (unchanged when the schema is empty): one value per
        field, and a form's many-valued fields (``core.fields.many_valued``) as its regions' labels."""
        if not self.schema:
            return prediction
        single = [n for n in self.schema if not many_valued(n)]
        many = [n for n in self.schema if many_valued(n)]
        values = (extract(regions_page(prediction.regions, page.width, page.height, self.model), single, self.model)
                  if single else [])
        regions = (label_regions(prediction.regions, page.width, page.height, many, self.forms) if many
                   else prediction.regions)
        return dataclasses.replace(prediction, fields=tuple(values), regions=tuple(regions))


def label_regions(regions, width: float, height: float, names: Sequence[str], model=None) -> list:
    """The regions, each one without a label given the form label read for it (header, question,
    answer or other: by ``model``, a learned ``ml.fields.entities.EntityModel``, else the
    zero-shot rules ``ml.fields.entities.rules``) when ``names`` has it, the
    schema's spelling kept. An unlabelled region that holds a label and its value ("Date: 12/3/88")
    is first cut after the label's colon into two (``core.regions_ops.plan_split``: the pieces tile
    it), a question and an answer, as a form's entities are."""
    from core.regions_ops import RegionOpError, plan_split

    from .entities import read_labels, split_at_colon

    want = {n.strip().lower(): n for n in names}
    out = []
    for r in regions:
        cut = split_at_colon(r.text or "") if getattr(r, "label", None) in (None, "") else None
        try:
            pieces = plan_split(r, cut) if cut is not None else []
        except RegionOpError:
            pieces = []
        if len(pieces) == 2:  # the other engine's reading was of the whole line: not the pieces'
            out += [dataclasses.replace(r, points=p.points, text=p.text, disagree=False, second_opinion=None)
                    for p in pieces]
        else:
            out.append(r)
    page = regions_units(out, width, height)
    for unit, label in zip(page.lines, read_labels(page, model)):
        i = page.sources[unit.index][0]         # type: ignore[attr-defined]
        if label in want and getattr(out[i], "label", None) in (None, ""):
            out[i] = dataclasses.replace(out[i], label=want[label])
    return out
