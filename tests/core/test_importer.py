"""Importing images and PDFs: every good format lands whole, every bad file gets one failure line."""

from __future__ import annotations

import io
import json
import shutil
import struct
import tempfile
import zlib
from pathlib import Path

import pypdfium2 as pdfium
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from core.importer import ImportOptions, import_paths
from core.model import flat_to_quad
from core.project import Project

from ..conftest import check_consistent, image_bytes

#: The store's behaviour is the same on a project folder and on a team server: each test runs on both.
BOTH_BACKENDS = True


# -- file makers -----------------------------------------------------------------------------------
def tiff_frames(n=3, size=(30, 20)) -> bytes:
    frames = [Image.new("RGB", size, (60 * i, 255 - 60 * i, 7)) for i in range(n)]
    buf = io.BytesIO()
    frames[0].save(buf, "TIFF", save_all=True, append_images=frames[1:])
    return buf.getvalue()


def pdf_bytes(sizes_pt) -> bytes:
    pdf = pdfium.PdfDocument.new()
    for w, h in sizes_pt:
        pdf.new_page(w, h)
    buf = io.BytesIO()
    pdf.save(buf)
    pdf.close()
    return buf.getvalue()


def handmade_pdf(objects: list[bytes], trailer_extra: bytes = b"") -> bytes:
    """A PDF with a correct xref table; object ``i`` is ``objects[i - 1]``, object 1 the catalog."""
    out = io.BytesIO()
    out.write(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for i, body in enumerate(objects, start=1):
        offsets.append(out.tell())
        out.write(b"%d 0 obj\n%s\nendobj\n" % (i, body))
    xref = out.tell()
    out.write(b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1))
    for off in offsets:
        out.write(b"%010d 00000 n \n" % off)
    out.write(b"trailer\n<< /Size %d /Root 1 0 R %s>>\nstartxref\n%d\n%%%%EOF\n"
              % (len(objects) + 1, trailer_extra, xref))
    return out.getvalue()


ONE_PAGE = [b"<< /Type /Catalog /Pages 2 0 R >>", b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 200 100] >>"]


def encrypted_pdf() -> bytes:
    """Standard security handler, RC4 128-bit: pdfium needs a password to open it."""
    encrypt = (b"<< /Filter /Standard /V 2 /R 3 /Length 128 /P -4 /O <" + b"11" * 32
               + b"> /U <" + b"22" * 32 + b"> >>")
    file_id = b"<" + b"ab" * 16 + b">"
    return handmade_pdf(ONE_PAGE + [encrypt], b"/Encrypt 4 0 R /ID [%s %s] " % (file_id, file_id))


def png_claiming(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims a huge image (a decompression bomb's calling card)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")


def tiff_with_broken_second_frame() -> bytes:
    """A 3-frame TIFF whose second IFD lost its ImageWidth tag."""
    data = bytearray(tiff_frames(3))
    assert data[:4] == b"II*\x00"
    ifd1 = struct.unpack_from("<I", data, 4)[0]
    ifd2 = struct.unpack_from("<I", data, ifd1 + 2 + 12 * struct.unpack_from("<H", data, ifd1)[0])[0]
    for k in range(struct.unpack_from("<H", data, ifd2)[0]):
        entry = ifd2 + 2 + 12 * k
        if struct.unpack_from("<H", data, entry)[0] == 256:  # ImageWidth
            struct.pack_into("<H", data, entry, 0xC0DE)
    return bytes(data)


def write(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def stored_size(project, page) -> tuple[int, int]:
    with Image.open(project.image_path(page)) as im:
        return im.size


def n_docs(project) -> int:
    return project.store.query("SELECT COUNT(*) FROM documents")[0][0]


# -- good input ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("fmt,ext", [("PNG", "png"), ("JPEG", "jpg"), ("BMP", "bmp"), ("WEBP", "webp")])
def test_single_image_formats_import(project, tmp_path, fmt, ext):
    path = write(tmp_path / "in" / f"scan.{ext}", image_bytes(1, (37, 23), fmt))
    summary = import_paths(project, [path])
    assert summary.imported == [str(path)] and summary.failures == [] and summary.pages == 1
    (page,) = project.store.pages()
    assert (page.width, page.height, page.page_no, page.name) == (37, 23, 1, f"scan.{ext}")
    assert stored_size(project, page) == (37, 23)
    (doc,) = project.store.documents()
    assert (doc.kind, doc.page_count, doc.source) == ("image", 1, str(path.resolve()))
    check_consistent(project)


def test_multi_page_tiff_gives_one_page_per_frame(project, tmp_path):
    path = write(tmp_path / "fax.tif", tiff_frames(3, (30, 20)))
    summary = import_paths(project, [path])
    assert summary.pages == 3 and summary.failures == []
    pages = project.store.pages()
    assert [(p.page_no, p.name, p.width, p.height) for p in pages] == [
        (n, f"fax.tif p.{n}", 30, 20) for n in (1, 2, 3)]
    assert len({p.image_sha256 for p in pages}) == 3  # three different frames, three images
    colours = []
    for p in pages:
        with Image.open(project.image_path(p)) as im:
            colours.append(im.convert("RGB").getpixel((5, 5)))
    assert colours == [(0, 255, 7), (60, 195, 7), (120, 135, 7)]
    assert project.store.documents()[0].page_count == 3
    check_consistent(project)


def test_pdf_pages_are_rendered_at_the_configured_dpi(project, tmp_path):
    path = write(tmp_path / "letter.pdf", pdf_bytes([(144, 72), (100, 50)]))
    dpi = 144
    summary = import_paths(project, [path], ImportOptions(dpi=dpi))
    assert summary.failures == [] and summary.pages == 2
    pages = project.store.pages()
    expected = [(round(144 * dpi / 72), round(72 * dpi / 72)), (round(100 * dpi / 72), round(50 * dpi / 72))]
    assert [(p.width, p.height) for p in pages] == expected == [(288, 144), (200, 100)]
    assert [stored_size(project, p) for p in pages] == expected
    assert project.store.documents()[0].kind == "pdf"
    check_consistent(project)


def test_exif_orientation_is_applied(project, tmp_path):
    img = Image.new("RGB", (40, 20), (0, 0, 255))
    img.paste((255, 0, 0), (0, 0, 20, 20))  # left half red
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to display"
    buf = io.BytesIO()
    img.save(buf, "JPEG", exif=exif.tobytes(), quality=95)
    path = write(tmp_path / "phone.jpg", buf.getvalue())

    import_paths(project, [path])
    (page,) = project.store.pages()
    assert (page.width, page.height) == (20, 40)
    with Image.open(project.image_path(page)) as im:
        assert im.size == (20, 40)
        top, bottom = im.convert("RGB").getpixel((10, 5)), im.convert("RGB").getpixel((10, 35))
    assert top[0] > 200 and top[2] < 60  # the red half is now on top
    assert bottom[2] > 200 and bottom[0] < 60


def test_same_content_is_imported_once(project, tmp_path):
    data = image_bytes(2)
    a = write(tmp_path / "a.png", data)
    b = write(tmp_path / "copy" / "b.png", data)
    first = import_paths(project, [a])
    second = import_paths(project, [a, b])
    assert len(first.imported) == 1
    assert second.imported == [] and second.duplicates == [str(a), str(b)] and second.failures == []
    assert n_docs(project) == 1 and project.store.count_pages() == 1


def test_contents_decide_the_format_not_the_extension(project, tmp_path):
    path = write(tmp_path / "really_a_png.jpg", image_bytes(3, (21, 13), "PNG"))
    summary = import_paths(project, [path])
    assert summary.imported == [str(path)]
    (page,) = project.store.pages()
    assert (page.width, page.height) == (21, 13)
    assert project.image_path(page).suffix == ".png"


def test_folders_are_recursed(project, tmp_path):
    root = tmp_path / "inbox"
    expected = [
        write(root / "a.png", image_bytes(10)),
        write(root / "sub" / "b.jpg", image_bytes(11, fmt="JPEG")),
        write(root / "sub" / "deeper" / "c.TIF", tiff_frames(1)),
    ]
    write(root / "notes.txt", b"not an image")
    write(root / ".thumbs" / "hidden.png", image_bytes(12))
    summary = import_paths(project, [root])
    assert sorted(summary.imported) == sorted(str(p) for p in expected)
    assert summary.failures == []
    assert sorted(d.name for d in project.store.documents()) == ["a.png", "b.jpg", "c.TIF"]


def test_reference_import_keeps_lines_and_fields(project, tmp_path, sroie_dir):
    src = sorted(sroie_dir.glob("*.jpg"))[:3]
    assert len(src) == 3
    folder = tmp_path / "gt"
    folder.mkdir()
    for jpg in src:
        shutil.copy(jpg, folder / jpg.name)
        shutil.copy(jpg.with_suffix(".json"), folder / jpg.with_suffix(".json").name)

    summary = import_paths(project, [folder], ImportOptions(reference=True))
    assert summary.failures == [] and len(summary.imported) == 3
    for page in project.store.pages():
        truth = json.loads((folder / page.name).with_suffix(".json").read_text())
        ref = project.store.reference(page.id)
        assert ref is not None and (page.width, page.height) == (truth["width"], truth["height"])
        assert len(ref["lines"]) == len(truth["lines"]) > 0
        assert [line["text"] for line in ref["lines"]] == [line["text"] for line in truth["lines"]]
        assert [tuple(map(tuple, line["points"])) for line in ref["lines"]] == [
            flat_to_quad(line["box"]) for line in truth["lines"]]
        assert ref["fields"] == truth["fields"] and set(ref["fields"]) == {"company", "date", "address", "total"}


def test_without_reference_option_no_reference_is_stored(project, tmp_path, sroie_dir):
    jpg = sorted(sroie_dir.glob("*.jpg"))[0]
    import_paths(project, [jpg])
    (page,) = project.store.pages()
    assert project.store.reference(page.id) is None


# -- bad input ----------------------------------------------------------------------------------------
def _truncated_jpeg(tmp_path, sroie_dir):
    data = sorted(sroie_dir.glob("*.jpg"))[0].read_bytes()
    return write(tmp_path / "half.jpg", data[: len(data) // 2])


def _broken_symlink(tmp_path, sroie_dir):
    link = tmp_path / "gone.png"
    link.symlink_to(tmp_path / "nowhere" / "gone.png")
    return link


def _broken_symlink_in_folder(tmp_path, sroie_dir):
    folder = tmp_path / "folder"
    folder.mkdir()
    (folder / "gone.png").symlink_to(tmp_path / "nowhere.png")
    return folder / "gone.png"


BAD = {
    "zero_bytes": (lambda t, s: write(t / "empty.png", b""), "empty"),
    "truncated_jpeg": (_truncated_jpeg, "broken"),
    "text_named_jpg": (lambda t, s: write(t / "notes.jpg", b"Dear diary,\nthis is not a photo.\n" * 20), "not an image"),
    "random_bytes_png": (lambda t, s: write(t / "noise.png", bytes(range(256)) * 7), "not an image"),
    "encrypted_pdf": (lambda t, s: write(t / "secret.pdf", encrypted_pdf()), "encrypted"),
    "truncated_pdf": (lambda t, s: write(t / "cut.pdf", pdf_bytes([(144, 72)])[:300]), "damaged"),
    "pdf_with_unloadable_page": (
        lambda t, s: write(t / "badpage.pdf", handmade_pdf(ONE_PAGE[:2] + [b"<< /Type /Font >>"])), "page"),
    "tiff_broken_second_frame": (lambda t, s: write(t / "fax.tif", tiff_with_broken_second_frame()), ""),
    "bomb_png_header": (lambda t, s: write(t / "bomb.png", png_claiming(100_000, 100_000)), "too large"),
    "nonexistent_path": (lambda t, s: t / "no" / "such.png", "no such file"),
    "broken_symlink": (_broken_symlink, ""),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_file_gives_one_failure_line_and_the_batch_goes_on(project, tmp_path, sroie_dir, case):
    make, words = BAD[case]
    bad = make(tmp_path, sroie_dir)
    before = write(tmp_path / "good" / "before.png", image_bytes(100))
    after = write(tmp_path / "good" / "after.png", image_bytes(101))

    summary = import_paths(project, [before, bad, after])

    assert summary.imported == [str(before), str(after)]
    assert [path for path, _ in summary.failures] == [str(bad)]
    message = summary.failures[0][1]
    assert message and "\n" not in message and words in message.lower()
    failed = [line for line in summary.lines() if line.startswith("failed:")]
    assert failed == [f"failed: {bad}: {message}"]
    assert sorted(d.name for d in project.store.documents()) == ["after.png", "before.png"]
    assert project.store.count_pages() == 2
    check_consistent(project)


def test_unreadable_file_inside_an_imported_folder_is_reported(project, tmp_path, sroie_dir):
    bad = _broken_symlink_in_folder(tmp_path, sroie_dir)
    good = write(bad.parent / "good.png", image_bytes(102))
    summary = import_paths(project, [bad.parent])
    assert summary.imported == [str(good)]
    assert [path for path, _ in summary.failures] == [str(bad)]


def test_pages_above_the_pixel_limit_are_refused(project, tmp_path):
    small = write(tmp_path / "small.png", image_bytes(5, (20, 20)))  # 400 px
    big = write(tmp_path / "big.png", image_bytes(6, (100, 100)))  # 10,000 px
    big_tiff = write(tmp_path / "big.tif", tiff_frames(2, (100, 30)))  # 3,000 px a frame
    big_pdf = write(tmp_path / "big.pdf", pdf_bytes([(72, 72)]))  # 300x300 at 300 dpi
    small2 = write(tmp_path / "small2.png", image_bytes(7, (20, 20)))
    summary = import_paths(project, [small, big, big_tiff, big_pdf, small2], ImportOptions(max_pixels=2000))
    assert summary.imported == [str(small), str(small2)]
    assert [p for p, _ in summary.failures] == [str(big), str(big_tiff), str(big_pdf)]
    assert all("above the limit" in m for _, m in summary.failures)
    assert n_docs(project) == 2 and project.store.count_pages() == 2
    check_consistent(project)


def test_a_batch_of_every_bad_file_imports_only_the_good_ones(project, tmp_path, sroie_dir):
    bad = []
    for name in sorted(BAD):
        sub = tmp_path / name
        sub.mkdir()
        bad.append(BAD[name][0](sub, sroie_dir))
    goods = [write(tmp_path / "good" / f"g{i}.png", image_bytes(200 + i)) for i in range(len(bad) + 1)]
    batch = [goods[0]] + [p for pair in zip(bad, goods[1:], strict=True) for p in pair]
    summary = import_paths(project, batch)
    assert summary.imported == [str(g) for g in goods]
    assert sorted(p for p, _ in summary.failures) == sorted(str(b) for b in bad)
    assert project.store.count_pages() == len(goods)
    check_consistent(project)


# -- property: nothing escapes, nothing half-written -----------------------------------------------------
MAGICS = [b"", b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"\xff\xd8\xff\xe0\x00\x10JFIF\x00", b"%PDF-", b"%PDF-1.7\n",
          b"II*\x00", b"MM\x00*", b"BM", b"RIFF\x00\x10\x00\x00WEBPVP8 ", b"GIF89a"]
SEEDS = [image_bytes(1, (12, 9), "PNG"), image_bytes(2, (12, 9), "JPEG"), image_bytes(3, (12, 9), "BMP"),
         image_bytes(4, (12, 9), "WEBP"), image_bytes(5, (12, 9), "TIFF", compression="tiff_lzw"),
         tiff_frames(3, (12, 9)), pdf_bytes([(30, 20), (20, 30)]), handmade_pdf(ONE_PAGE)]


@st.composite
def mutated_file(draw) -> bytes:
    data = bytearray(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(1, 4))):
        pos = draw(st.integers(0, len(data) - 1))
        op = draw(st.sampled_from(["set", "delete", "insert"]))
        if op == "set":
            data[pos] = draw(st.integers(0, 255))
        elif op == "delete":
            del data[pos: pos + draw(st.integers(1, 64))]
        else:
            data[pos:pos] = draw(st.binary(min_size=1, max_size=16))
        if not data:
            break
    return bytes(data)


ANY_FILE = st.one_of(
    st.binary(max_size=600),
    st.tuples(st.sampled_from(MAGICS), st.binary(max_size=600)).map(lambda t: t[0] + t[1]),
    mutated_file(),
)


#: Examples per backend: each example is a fresh project (on a server, a schema of its own).
FUZZ_EXAMPLES = {"sqlite": 60, "postgresql": 15}


@pytest.mark.filterwarnings("ignore::UserWarning")  # PIL's chatter about corrupt TIFF tags
def test_arbitrary_bytes_never_escape_and_leave_the_db_consistent(backend, request):
    server = request.getfixturevalue("pg_database") if backend == "postgresql" else None
    made = iter(range(10**6))

    @settings(max_examples=FUZZ_EXAMPLES[backend], deadline=None, derandomize=True, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(data=ANY_FILE, ext=st.sampled_from(["png", "jpg", "tif", "pdf", "webp", "bmp", "bin"]))
    def import_one(data, ext):
        with tempfile.TemporaryDirectory() as tmp:
            tmp = Path(tmp)
            project = Project.create(f"{server}/fuzz{next(made)}" if server else tmp / "proj")
            try:
                path = write(tmp / f"fuzz.{ext}", data)
                summary = import_paths(project, [path], ImportOptions(max_pixels=1_000_000))
                docs = project.store.documents()
                if summary.imported:
                    assert summary.imported == [str(path)] and summary.failures == [] and len(docs) == 1
                    assert docs[0].page_count == summary.pages >= 1
                else:
                    assert [p for p, _ in summary.failures] == [str(path)] and docs == []
                    assert project.store.count_pages() == 0
                    assert summary.failures[0][1] and "\n" not in summary.failures[0][1]
                check_consistent(project)
            finally:
                project.close()

    import_one()
