"""The recogniser's lexicon (ml.neural.lexicon): CTC rescoring of the words it does not know."""

from __future__ import annotations

import json
import logging

import numpy as np
import pytest
import torch

from ml.neural.ctc import decode_greedy
from ml.neural.lexicon import FILE, Lexicon, ctc_log_likelihood, lexicon_of, rescore
from ml.neural.models import ModelSpec
from ml.neural.recognizer import Recognizer

CHARSET = ["-", "A", "N", "G", "S", "O", "1", "7", " ", "a", "n", "g", "s", "o"]


def _frames(text: str, doubt: dict[int, tuple[str, float]] | None = None, sure: float = 0.9) -> np.ndarray:
    """Probabilities that read ``text`` greedily: each character one step, a blank after it;
    ``doubt[i] = (other, p)`` gives character i's step ``p`` of ``other`` (the rest to the character)."""
    rows = []
    doubt = doubt or {}
    for i, ch in enumerate(text):
        row = np.full(len(CHARSET), (1 - sure) / (len(CHARSET) - 1))
        row[CHARSET.index(ch)] = sure
        if i in doubt:
            other, p = doubt[i]
            row[CHARSET.index(ch)] = sure - p
            row[CHARSET.index(other)] = p
        rows.append(row)
        blank = np.full(len(CHARSET), (1 - sure) / (len(CHARSET) - 1))
        blank[0] = sure
        rows.append(blank)
    return np.array(rows)


def _read(text: str, lexicon: Lexicon, doubt=None) -> str:
    p = _frames(text, doubt)
    d = decode_greedy(p[None], CHARSET)[0]
    assert d.text == text
    return rescore(d, np.log(p), CHARSET, lexicon).text


LEX = lexicon_of([["JALAN ANGSA 17"], ["ANGSA", "SONG"], ["SONG"]])


def test_the_ctc_likelihood_is_the_one_torch_trains_with():
    rng = np.random.default_rng(0)
    for labels in ([1, 2, 3], [1, 1, 2], [4, 4, 4, 5], [3]):
        lp = torch.from_numpy(rng.normal(size=(14, 1, len(CHARSET)))).log_softmax(2)
        want = -torch.nn.functional.ctc_loss(lp, torch.tensor([labels]), [14], [len(labels)], reduction="sum").item()
        assert ctc_log_likelihood(lp[:, 0].numpy(), labels) == pytest.approx(want, abs=1e-6)


def test_the_lexicon_keeps_words_on_two_pages_and_no_numbers():
    assert LEX.pages == {"ANGSA": 2, "SONG": 2}       # JALAN is on one page; 17 is a number
    assert "angsa" in LEX and "Song" in LEX


def test_a_word_the_network_hesitated_over_becomes_the_known_one():
    # G was the close second at the O: the known ANGSA is the likelier reading
    assert _read("ANOSA", LEX, {2: ("G", 0.35)}) == "ANGSA"
    # a dropped character and an added one, when the network's outputs support them
    assert _read("SONGS", LEX, {4: ("-", 0.4)}) == "SONG"


def test_a_character_the_network_was_sure_of_stays():
    assert _read("ANOSA", LEX, {2: ("G", 0.005)}) == "ANOSA"
    assert _read("ANOSA", LEX) == "ANOSA"


def test_known_words_numbers_and_words_far_from_any_known_stay():
    assert _read("ANGSA", LEX) == "ANGSA"
    assert _read("1717", LEX, {0: ("7", 0.4)}) == "1717"
    assert _read("GOGO", LEX, {0: ("S", 0.4)}) == "GOGO"


def test_codes_are_neither_rescored_nor_rescored_towards():
    codes = lexicon_of([["SA17 SO1"], ["SA17 SO1"]])
    assert codes.pages == {"SO1": 2}                 # SA17: two digits, an identifier
    assert _read("SA11", codes, {3: ("7", 0.4)}) == "SA11"
    assert _read("SA11", Lexicon({"SA17": 5}), {3: ("7", 0.4)}) == "SA11"
    assert _read("SO7", codes, {2: ("1", 0.4)}) == "SO1"   # one digit is a word's misreading


def test_the_replacement_keeps_the_case_the_word_was_read_in():
    assert _read("Anosa", LEX, {2: ("g", 0.35)}) == "Angsa"
    assert _read("anosa song", LEX, {2: ("g", 0.35)}) == "angsa song"


def test_a_replaced_word_gets_the_known_words_share_as_confidence():
    p = _frames("ANOSA ANGSA", {2: ("G", 0.3)})
    d = rescore(decode_greedy(p[None], CHARSET)[0], np.log(p), CHARSET, LEX)
    assert d.text == "ANGSA ANGSA"
    assert len(d.char_conf) == len(d.text)
    # the changed character gets the known word's share of the two likelihoods; the others keep theirs
    assert 0.6 < d.char_conf[2] < 0.99
    assert d.char_conf[:2] + d.char_conf[3:] == pytest.approx([0.9] * 10)


def _spec(tmp_path) -> ModelSpec:
    return ModelSpec(folder=tmp_path, task="recognition", architecture="test", sha256="0" * 64,
                     input_height=8, charset=tuple(CHARSET), raw={"output": {"time_stride": 1}})


def test_the_recogniser_reads_with_the_lexicon_beside_its_model(tmp_path, caplog):
    probs = _frames("ANOSA", {2: ("G", 0.35)})

    def run(x):
        return np.repeat(probs[None], len(x), axis=0)

    crop = np.full((8, len(probs)), 255, dtype=np.uint8)
    assert Recognizer(_spec(tmp_path), run=run).read([crop])[0].text == "ANOSA"     # no lexicon yet
    LEX.save(tmp_path)
    assert json.loads((tmp_path / FILE).read_text()) == LEX.pages
    assert Recognizer(_spec(tmp_path), run=run).read([crop])[0].text == "ANGSA"
    assert Recognizer(_spec(tmp_path), run=run, lexicon=None).read([crop])[0].text == "ANOSA"
    # a broken lexicon: read without it, and say so
    (tmp_path / FILE).write_text("{not json")
    with caplog.at_level(logging.WARNING):
        assert Recognizer(_spec(tmp_path), run=run).read([crop])[0].text == "ANOSA"
    assert FILE in caplog.text
    (tmp_path / FILE).write_text('{"ANGSA": "two"}')
    with pytest.raises(ValueError, match="table of words"):
        Lexicon.load(tmp_path)
