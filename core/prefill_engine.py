"""Which engine a project pre-fills with: a project setting, read by the GUI, the CLI and ml.prefill.

The engines themselves live in ml/; this is only the name the project stores. The default is
the best engine: the neural model read with Tesseract's second opinion ("combined": calibrated
confidences, disagreements flagged for QC, the project's promoted recogniser once there is one).
Without a usable model file ml/ falls back to the classical engine with a warning.
"""

from __future__ import annotations

from collections.abc import Iterable

from .store import Store

#: The project setting, and the engines a project can pre-fill with, best first.
ENGINE_SETTING = "prefill_engine"
PREFILL_ENGINES = ("combined", "neural", "classical")
DEFAULT_ENGINE = PREFILL_ENGINES[0]

#: The project setting naming the Tesseract language data its engines read with ("eng",
#: "deu+eng"...; ``ml.tess.check_languages``), and the combined engine's languages when unset
#: (German data has the umlauts, ß and accents English data lacks; the classical engine reads
#: with eng unless the project chooses).
TESSERACT_LANGUAGES = "tesseract.languages"
DEFAULT_TESSERACT_LANGUAGES = "deu+eng"


def prefill_engine(store: Store, extra: Iterable[str] = ()) -> str:
    """The project's pre-fill engine (:data:`DEFAULT_ENGINE` when unset or unknown). ``extra``: the
    other engines this process has (plug-ins, ``ml.engines.ENGINES``): a project set to a
    plug-in that is not installed here pre-fills with the default."""
    return store.get_choice(ENGINE_SETTING, (*PREFILL_ENGINES, *extra), DEFAULT_ENGINE)


def set_prefill_engine(store: Store, engine: str, extra: Iterable[str] = ()) -> None:
    store.set_choice(ENGINE_SETTING, engine, (*PREFILL_ENGINES, *dict.fromkeys(extra)), "pre-fill engine")
