"""Import hardening: a failed import leaves nothing behind, big files stream, order is natural.

- A reference file (``<image>.json``) is checked completely before anything is written, and a
  document is written with its pages, references and label regions in one transaction: any
  failure (a NaN box, a list at the root, 100,000 levels of nesting, a box outside the page, a
  failing region insert) leaves no document, and importing again after the fix works.
- Pages are rendered one at a time straight to ``pages/``: a capped page count
  (``max_pages_per_document``), per-page progress, a cancel that stops within a page, and a
  peak memory that does not grow with the page count.
- Folders import in natural order (r1, r2, r10), named files in the order given.
- A project database deleted while an import runs stops the import with a message.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from core.errors import ProjectError
from core.importer import ImportOptions, import_paths
from core.project import Project

from ..conftest import check_consistent, image_bytes


def write(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def image_files(project) -> list[Path]:
    """Every file under pages/ (images and temp files alike)."""
    return sorted(p for p in (project.root / "pages").rglob("*") if p.is_file())


def n_docs(project) -> int:
    return project.store.query("SELECT COUNT(*) FROM documents")[0][0]


def n_regions(project) -> int:
    return project.store.query("SELECT COUNT(*) FROM regions")[0][0]


# -- 7: reference files are checked before anything is written ------------------------------------------
@pytest.fixture
def receipt(tmp_path, sroie_dir) -> tuple[Path, dict]:
    """A SROIE receipt and its reference, copied into tmp_path/in."""
    jpg = sorted(sroie_dir.glob("*.jpg"))[0]
    dest = tmp_path / "in" / jpg.name
    dest.parent.mkdir(parents=True)
    shutil.copy(jpg, dest)
    ref = json.loads(jpg.with_suffix(".json").read_text(encoding="utf-8"))
    return dest, ref


def put_ref(image: Path, content) -> Path:
    path = image.with_suffix(".json")
    path.write_text(content if isinstance(content, str) else json.dumps(content), encoding="utf-8")
    return path


@pytest.mark.parametrize("option", ["reference", "labels"])
def test_nan_box_leaves_nothing_and_the_fixed_file_imports(project, receipt, option):
    image, ref = receipt
    good = json.loads(json.dumps(ref))
    ref["lines"][2]["box"][3] = float("nan")  # json.dumps writes NaN, json.loads reads it back
    ref_path = put_ref(image, ref)
    opts = ImportOptions(reference=option == "reference", labels=option == "labels", user="ana")

    summary = import_paths(project, [image], opts)

    assert summary.imported == [] and [p for p, _ in summary.failures] == [str(image)]
    message = summary.failures[0][1]
    assert ref_path.name in message and "line 3" in message and "not a finite number" in message, message
    assert n_docs(project) == 0 and project.store.count_pages() == 0 and n_regions(project) == 0
    assert image_files(project) == []  # no orphan page image either

    put_ref(image, good)  # fixed: the same image imports now, it is not "already imported"
    again = import_paths(project, [image], opts)
    assert again.imported == [str(image)] and again.duplicates == [] and again.failures == []
    (page,) = project.store.pages()
    assert project.store.reference(page.id)["lines"]
    if option == "labels":
        assert page.status.value == "done" and n_regions(project) == sum(1 for ln in good["lines"] if ln["text"].strip())
    check_consistent(project)


def _sparse(size: int):
    def make(image: Path, ref: dict) -> Path:
        path = image.with_suffix(".json")
        with open(path, "wb") as fh:
            fh.truncate(size)  # a sparse file: its size without its bytes
        return path
    return make


def _edit(change):
    def make(image: Path, ref: dict) -> Path:
        change(ref)
        return put_ref(image, ref)
    return make


def _box(i: int, k: int, value):
    def change(ref):
        ref["lines"][i]["box"][k] = value
    return change


def _many_lines(n: int):
    def change(ref):
        ref["lines"] = [{"box": [1, 1, 5, 1, 5, 5, 1, 5], "text": "x"}] * n
    return change


BAD_REFERENCE = {
    "list_root": (lambda image, ref: put_ref(image, [ref]), "must be a json object"),
    "deep_nesting": (lambda image, ref: put_ref(image, "[" * 100_000 + "]" * 100_000), "nested too deeply"),
    "deep_nesting_in_lines": (lambda image, ref: put_ref(
        image, '{"lines": ' + "[" * 100_000 + "]" * 100_000 + "}"), "nested too deeply"),
    "not_utf8": (lambda image, ref: write(image.with_suffix(".json"), b'{"lines": [], "x": "\xff\xfe"}'), "utf-8"),
    "not_json": (lambda image, ref: put_ref(image, '{"lines": [}'), "not valid json"),
    "infinity": (_edit(_box(0, 0, float("inf"))), "line 1: box coordinate 1 is not a finite number"),
    "negative": (_edit(_box(1, 1, -3)), "line 2: box coordinate 2 is negative (-3)"),
    "outside_page": (_edit(_box(0, 2, 5000)), "line 1: box reaches x=5000, outside the page"),
    "below_page": (_edit(_box(0, 5, 9000)), "line 1: box reaches y=9000, outside the page"),
    "string_coordinate": (_edit(_box(0, 0, "12")), "line 1: box coordinate 1 is not a number"),
    "bool_coordinate": (_edit(_box(0, 0, True)), "line 1: box coordinate 1 is not a number"),
    "seven_numbers": (_edit(lambda ref: ref["lines"][0]["box"].pop()), "line 1: box needs 8 numbers, has 7"),
    "box_not_list": (_edit(lambda ref: ref["lines"][0].update(box="0 0 1 1")), "line 1: box needs 8 numbers"),
    "no_text": (_edit(lambda ref: ref["lines"][0].pop("text")), "line 1: text is missing"),
    "text_not_string": (_edit(lambda ref: ref["lines"][0].update(text=12)), "line 1: text must be a string"),
    "label_not_string": (_edit(lambda ref: ref["lines"][0].update(label=["x"])), "line 1: label must be a string"),
    "line_not_object": (_edit(lambda ref: ref["lines"].insert(0, [1, 2])), "line 1 must be a json object"),
    "lines_not_list": (_edit(lambda ref: ref.update(lines={"a": 1})), "lines must be a list"),
    "fields_not_object": (_edit(lambda ref: ref.update(fields=["total"])), "fields must be a json object"),
    "field_not_string": (_edit(lambda ref: ref["fields"].update(total=3.5)), "field total must be a string"),
    "too_many_lines": (_edit(_many_lines(20_001)), "20001 lines; the limit is 20000"),
    "too_large": (_sparse(51 * 1024**2), "51.0 mb; the limit is 50 mb"),
}


@pytest.mark.parametrize("case", sorted(BAD_REFERENCE))
def test_bad_reference_is_refused_with_one_line_and_nothing_written(project, receipt, tmp_path, case):
    image, ref = receipt
    make, words = BAD_REFERENCE[case]
    ref_path = make(image, ref)
    after = write(tmp_path / "good" / "after.png", image_bytes(300))

    summary = import_paths(project, [image, after], ImportOptions(labels=True, user="ana"))

    assert summary.imported == [str(after)]  # the batch goes on
    assert [p for p, _ in summary.failures] == [str(image)]
    message = summary.failures[0][1]
    assert "\n" not in message and len(message) < 300, message
    assert message.startswith(f"reference file {ref_path.name}: "), message
    assert words in message.lower(), message
    assert [d.name for d in project.store.documents()] == ["after.png"]
    assert project.store.count_pages() == 1 and n_regions(project) == 0
    assert len(image_files(project)) == 1  # the good file's image only
    check_consistent(project)


def test_a_box_on_the_page_edge_is_accepted(project, receipt):
    """Within one pixel of the page edge is the page (annotation tools round outwards)."""
    image, ref = receipt
    with Image.open(image) as im:
        width, height = im.size
    ref["lines"][0]["box"] = [0, 0, width + 1, 0, width + 1, height + 1, 0, height + 1]
    put_ref(image, ref)
    summary = import_paths(project, [image], ImportOptions(labels=True, user="ana"))
    assert summary.failures == [] and summary.imported == [str(image)]


def test_a_failing_region_write_rolls_the_whole_document_back(project, receipt):
    """The document, its page, reference and label regions are one transaction."""
    image, ref = receipt
    ref["lines"][4]["text"] = "BOOM"
    put_ref(image, ref)
    # A real database failure in the middle of the label regions (what a NaN box used to cause).
    project.store.conn.execute("CREATE TRIGGER boom BEFORE INSERT ON regions WHEN NEW.text = 'BOOM'"
                               " BEGIN SELECT RAISE(ABORT, 'boom'); END")

    summary = import_paths(project, [image], ImportOptions(labels=True, user="ana"))

    assert summary.imported == [] and [p for p, _ in summary.failures] == [str(image)]
    assert n_docs(project) == 0 and project.store.count_pages() == 0 and n_regions(project) == 0
    assert project.store.query("SELECT COUNT(*) FROM edits")[0][0] == 0
    assert image_files(project) == []
    project.store.conn.execute("DROP TRIGGER boom")
    again = import_paths(project, [image], ImportOptions(labels=True, user="ana"))
    assert again.imported == [str(image)] and n_regions(project) > 0
    check_consistent(project)


# -- 9: pages stream to disk ---------------------------------------------------------------------------
N_PAGES = 200


@pytest.fixture(scope="module")
def big_pdf(tmp_path_factory) -> Path:
    """A 200-page PDF of noise (80x60 pt each): hard to compress, so every rendered page costs memory."""
    rng = np.random.default_rng(7)
    frames = [Image.fromarray(rng.integers(0, 256, (60, 80, 3), dtype=np.uint8)) for _ in range(N_PAGES)]
    path = tmp_path_factory.mktemp("pdf") / "big.pdf"
    frames[0].save(path, "PDF", save_all=True, append_images=frames[1:], resolution=72)
    return path


def tiff_frames(n: int, size=(30, 20)) -> bytes:
    frames = [Image.new("RGB", size, (i * 7 % 256, 255 - i * 7 % 256, i % 256)) for i in range(n)]
    buf = io.BytesIO()
    frames[0].save(buf, "TIFF", save_all=True, append_images=frames[1:])
    return buf.getvalue()


def test_a_pdf_above_the_page_limit_is_refused_before_anything_is_rendered(project, big_pdf, tmp_path):
    project.store.set_setting("max_pages_per_document", 50)
    after = write(tmp_path / "after.png", image_bytes(301))
    notes = []
    summary = import_paths(project, [big_pdf, after], progress=lambda d, t, note: notes.append(note))
    assert summary.failures == [(str(big_pdf), "big.pdf has 200 pages; the limit is 50 (setting max_pages_per_document)")]
    assert summary.imported == [str(after)]
    assert [d.name for d in project.store.documents()] == ["after.png"]
    assert len(image_files(project)) == 1
    assert not any(" of 200" in n for n in notes)  # refused up front: no page was rendered


def test_a_tiff_above_the_page_limit_is_refused(project, tmp_path):
    project.store.set_setting("max_pages_per_document", 3)
    fax = write(tmp_path / "fax.tif", tiff_frames(5))
    ok = write(tmp_path / "ok.tif", tiff_frames(3))
    summary = import_paths(project, [fax, ok])
    assert summary.failures == [(str(fax), "fax.tif has 5 pages; the limit is 3 (setting max_pages_per_document)")]
    assert summary.imported == [str(ok)] and project.store.count_pages() == 3
    once = import_paths(project, [fax], ImportOptions(max_pages=5))  # one import may allow more
    assert once.imported == [str(fax)] and project.store.count_pages() == 8


def test_progress_reports_the_pages_of_a_multi_page_file(project, big_pdf, tmp_path):
    single = write(tmp_path / "one.png", image_bytes(302))
    calls = []
    summary = import_paths(project, [single, big_pdf], ImportOptions(dpi=72),
                           progress=lambda done, total, note: calls.append((done, total, note)))
    assert summary.pages == N_PAGES + 1
    page_calls = [c for c in calls if " p. " in c[2]]
    assert len(page_calls) == N_PAGES
    assert page_calls[11] == (1, 2, f"{big_pdf} p. 12 of {N_PAGES}")  # one file done, the second in hand
    assert (2, 2, str(big_pdf)) == calls[-1]  # the file-level call after each file, as before
    assert "/" not in page_calls[11][2].rsplit(big_pdf.name, 1)[1]  # callers show Path(note).name
    check_consistent(project)


@pytest.mark.parametrize("kind", ["pdf", "tiff"])
def test_cancel_stops_within_a_file_and_writes_none_of_it(project, big_pdf, tmp_path, kind):
    big = big_pdf if kind == "pdf" else write(tmp_path / "big.tif", tiff_frames(N_PAGES))
    before = write(tmp_path / "before.png", image_bytes(303))
    after = write(tmp_path / "after.png", image_bytes(304))
    cancel = threading.Event()
    seen = []

    def progress(done, total, note):
        seen.append(note)
        if note.endswith(f"p. 3 of {N_PAGES}"):
            cancel.set()

    t0 = time.monotonic()
    summary = import_paths(project, [before, big, after], ImportOptions(dpi=72), progress=progress, cancel=cancel)
    elapsed = time.monotonic() - t0

    assert summary.cancelled and summary.imported == [str(before)] and summary.failures == []
    assert not any(n.endswith(f"p. 4 of {N_PAGES}") for n in seen)  # stopped within a page
    assert any(str(big) in line and "cancel" in line for line in summary.lines()), summary.lines()
    assert [d.name for d in project.store.documents()] == ["before.png"]
    assert len(image_files(project)) == 1  # the three rendered pages were removed again
    assert elapsed < 5
    check_consistent(project)


#: Imports a PDF into a project in a fresh interpreter and prints the traced peak: in the test
#: process, a resize of a global table (sys.intern's, when pathlib interns a path part) can
#: land inside the measurement and weigh megabytes that are not the importer's.
MEASURE = """
import sys, tracemalloc
from pathlib import Path
from PIL import Image
from core.importer import ImportOptions, import_paths
from core.project import Project
from core.project import Project

project = Project.open(sys.argv[1])
warm = Path(sys.argv[3])  # loading pypdfium2 and PIL's plugins is not pages
Image.new("RGB", (8, 8)).save(warm, "PDF", save_all=True, append_images=[Image.new("RGB", (8, 8), "red")])
assert import_paths(project, [warm]).pages == 2
tracemalloc.start()
summary = import_paths(project, [Path(sys.argv[2])], ImportOptions(dpi=144))
print(summary.pages, tracemalloc.get_traced_memory()[1])
project.close()
"""


def test_pages_are_written_as_they_are_rendered_not_held_in_memory(project, big_pdf, tmp_path):
    root = project.root
    project.close()
    out = subprocess.run([sys.executable, "-c", MEASURE, str(root), str(big_pdf), str(tmp_path / "warm.pdf")],
                         capture_output=True, text=True, timeout=60, cwd=Path(__file__).resolve().parents[2])
    assert out.returncode == 0, out.stderr
    pages, peak = map(int, out.stdout.split())
    assert pages == N_PAGES
    again = Project.open(root)
    try:
        stored = sum(again.image_path(p).stat().st_size for p in again.store.pages() if p.name.startswith("big.pdf"))
    finally:
        again.close()
    assert stored > 10 * big_pdf.stat().st_size  # the rendered pages are what could pile up
    # Holding every rendered page needs `stored` bytes more than the file's; one at a time, a few pages.
    assert peak < big_pdf.stat().st_size + stored / 5, (peak, stored)


# -- 15: natural order -----------------------------------------------------------------------------------
def test_folders_import_in_natural_order(project, tmp_path):
    root = tmp_path / "scans"
    names = ["r10.png", "r2.png", "r11.png", "r1.png", "sub10/a.png", "sub2/a.png", "sub2/a10.png", "sub2/a9.png"]
    for i, name in enumerate(names):  # created out of order, so neither creation nor byte order helps
        write(root / name, image_bytes(400 + i))
    summary = import_paths(project, [root])
    order = ["r1.png", "r2.png", "r10.png", "r11.png", "sub2/a.png", "sub2/a9.png", "sub2/a10.png", "sub10/a.png"]
    assert summary.imported == [str(root / n) for n in order]
    pages = sorted(project.store.pages(), key=lambda p: p.id)
    docs = {d.id: d.source for d in project.store.documents()}
    assert [docs[p.document_id] for p in pages] == [str((root / n).resolve()) for n in order]


def test_named_files_keep_the_order_given(project, tmp_path):
    r10 = write(tmp_path / "r10.png", image_bytes(420))
    r2 = write(tmp_path / "r2.png", image_bytes(421))
    summary = import_paths(project, [r10, r2])
    assert summary.imported == [str(r10), str(r2)]
    assert [p.name for p in sorted(project.store.pages(), key=lambda p: p.id)] == ["r10.png", "r2.png"]


# -- 10: the database file deleted under a running import ------------------------------------------------
@pytest.mark.parametrize("how", ["deleted", "replaced"])
def test_an_import_stops_when_its_database_is_deleted_or_replaced(project, tmp_path, how):
    files = [write(tmp_path / f"f{i}.png", image_bytes(500 + i)) for i in range(3)]
    db = project.root / "proofdesk.db"

    def progress(done, total, note):
        if done == 1 and db.exists():
            if how == "deleted":
                db.unlink()
            else:
                other = tmp_path / "other.db"
                shutil.copy(db, other)
                os.replace(other, db)

    with pytest.raises(ProjectError) as exc:
        import_paths(project, files, progress=progress)
    assert str(exc.value) == (f"the project database {db} was deleted or replaced while this command ran;"
                              " nothing more was written")
