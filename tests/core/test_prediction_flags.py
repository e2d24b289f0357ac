"""The combined engine's disagreement flag is kept with the prediction and routes the page to review."""

from __future__ import annotations

from core import review
from core.importer import import_paths
from core.model import PageStatus, PredictedRegion, Prediction, Role, box_to_quad

from ..conftest import image_bytes

#: The store's behaviour is the same on a project folder and on a team server: each test runs on both.
BOTH_BACKENDS = True


def test_disagreement_is_stored_and_routes_the_page(project, tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    for i in range(2):
        (src / f"p{i}.png").write_bytes(image_bytes(i))
    import_paths(project, [src])
    calm, torn = project.store.pages()
    sure = PredictedRegion(box_to_quad(0, 0, 10, 5), "TOTAL", 0.99)
    split = PredictedRegion(box_to_quad(0, 10, 10, 15), "12.50", 0.99, disagree=True, second_opinion="12.S0")
    project.store.add_prediction(Prediction(calm.id, "combined", "1", {}, "h", (sure,)))
    project.store.add_prediction(Prediction(torn.id, "combined", "1", {}, "h", (sure, split)))
    [stored] = project.store.predictions(torn.id)
    assert stored.regions[1].disagree and stored.regions[1].second_opinion == "12.S0"
    assert not stored.regions[0].disagree and stored.regions[0].second_opinion is None
    project.store.set_user_role("lead", "lead", Role.ADMIN)
    review.set_qc_settings(project.store, "lead", share=0.0)  # only the always-route rules
    for page in (calm, torn):
        project.store.set_page_status("ana", page.id, PageStatus.DONE)
    reasons = {e.page_id: e.reasons for e in review.review_queue(project.store)}
    assert calm.id not in reasons
    assert any("disagree" in r for r in reasons[torn.id])
