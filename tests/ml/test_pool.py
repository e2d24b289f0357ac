"""The pre-fill pool: pages read a few at a time (the neural engines' predict_many), a bad page or
a crashed worker costing only its own page."""

from __future__ import annotations

import os

from ml.pool import PageResult, map_pages, prefill_pages


def crash_on_boom(pages, engine, config):
    """A task of several pages whose worker dies on page "boom" (a crash inside a native library)."""
    if any(pid == "boom" for pid, _ in pages):
        os._exit(3)
    return [PageResult(pid, None, None, 0.0, extra=f"read {src}") for pid, src in pages]


def test_a_crashed_batch_has_its_pages_retried_alone():
    pages = [("a", 1), ("b", 2), ("boom", 3), ("c", 4), ("d", 5), ("e", 6), ("f", 7)]
    items = [(pages[i:i + 3], "x", None) for i in range(0, len(pages), 3)]
    got = list(map_pages(crash_on_boom, items, workers=2, split=lambda it: [([p], it[1], it[2]) for p in it[0]],
                         page_of=lambda it: it[0][0][0]))
    by_id = {r.page_id: r for r in got}
    assert sorted(by_id) == ["a", "b", "boom", "c", "d", "e", "f"] and len(got) == 7
    assert by_id["boom"].error == "worker process crashed on this page"
    assert all(by_id[p].error is None and by_id[p].extra for p in "abcdef")


def test_pages_read_together_in_the_pool_match_one_by_one(sroie_dir, tmp_path):
    """The default for the neural engines: 4 pages a task. Every page gets its prediction; a page
    that cannot be decoded fails alone; the readings equal those of pages read one at a time but
    for the rare line whose reading depends on its batch's padding."""
    imgs = sorted(sroie_dir.glob("*.jpg"))[:5]
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(imgs[0].read_bytes()[:200])
    pages = [(i, str(p)) for i, p in enumerate(imgs)] + [(99, str(broken))]
    together = {r.page_id: r for r in prefill_pages(pages, "neural", {"threads": 1}, workers=0)}
    alone = {r.page_id: r for r in prefill_pages(pages, "neural", {"threads": 1}, workers=0, batch=1)}
    assert sorted(together) == sorted(alone) == [0, 1, 2, 3, 4, 99]
    assert together[99].prediction is None and "decode" in together[99].error
    assert together[0].prediction.info["pages_in_batch"] == 4 and "pages_in_batch" not in alone[0].prediction.info
    lines = same = 0
    for i in range(5):  # detection is per page: the same boxes (a line near min_conf may come or go)
        a = {str(r.points): r.text for r in together[i].prediction.regions}
        b = {str(r.points): r.text for r in alone[i].prediction.regions}
        lines += len(b)
        same += sum(a.get(k) == t for k, t in b.items())
    assert same >= 0.9 * lines


def test_combined_engine_reads_pages_together_as_one_by_one(sroie_dir):
    from ml.neural.combined import CombinedEngine
    from ml.prediction import load_image

    combined_engine = CombinedEngine()
    imgs = [load_image(p) for p in sorted(sroie_dir.glob("*.jpg"))[:2]]
    many = combined_engine.predict_many(imgs)
    one = [combined_engine.predict(i) for i in imgs]
    lines = same = 0
    for m, o in zip(many, one):
        assert m.info["pages_in_batch"] == 2 and "tesseract_s" in m.info and m.config_hash == o.config_hash
        got = {str(r.points): r.text for r in m.regions}
        # The same regions, but for at most one speck whose reading (and so whether it is kept at
        # all) hangs on its batch's padding, as the odd line's text does below: a low-confidence one.
        odd = [r for r in list(m.regions) + list(o.regions)
               if (str(r.points) in got) != (str(r.points) in {str(x.points) for x in o.regions})]
        assert len(odd) <= 1 and all(r.confidence < 0.5 for r in odd), [(r.text, r.confidence) for r in odd]
        lines += len(o.regions)
        same += sum(got.get(str(r.points)) == r.text for r in o.regions)
    # ... read alike but for the odd line whose reading depends on its batch's padding (counted over
    # both pages: the second, levelled by 2.2 degrees first, has 3 such lines of 28)
    assert same >= 0.9 * lines
