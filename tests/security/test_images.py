"""The hostile image corpus (corpus.py) through ``load_image`` + ``align_face``.

Every case gets exactly the exception class its kind maps to, with a one-line message
that says what to do, and a normal photo still aligns right after it. Refused formats
never reach Pillow; animated, 16-bit, CMYK and EXIF-rotated photos load correctly.
"""

from __future__ import annotations

import io

import numpy as np
import pytest
from corpus import CASE_NAMES, EPS_BYTES, Case, build_corpus, portrait, says_what_to_do
from PIL import EpsImagePlugin, Image

from stylelab.faces import (
    AlignedFace,
    FaceDetector,
    UnsupportedFormatError,
    align_face,
    load_image,
)
from stylelab.faces.formats import ACCEPTED_NAMES

pytestmark = pytest.mark.weights  # dlib answers the face cases


@pytest.fixture(scope="module")
def cases(tmp_path_factory) -> dict[str, Case]:
    try:
        corpus = build_corpus(tmp_path_factory.mktemp("hostile"))
    except LookupError as err:
        pytest.skip(str(err))
    return {case.name: case for case in corpus}


def answer(source, detector: FaceDetector) -> AlignedFace | Exception:
    """What a front end gets: the aligned face, or the exception raised."""
    try:
        return align_face(load_image(source), 256, detector=detector)
    except Exception as err:  # noqa: BLE001 - the test inspects whatever comes out
        return err


@pytest.mark.parametrize("name", CASE_NAMES)
def test_each_case_gets_its_answer_and_a_normal_photo_still_aligns(cases, detector, name):
    case = cases[name]
    got = answer(case.path, detector)
    if case.error is None:
        assert isinstance(got, AlignedFace), f"{name}: {type(got).__name__}: {got}"
        assert got.image.size == (256, 256) and got.n_faces == case.faces
    else:
        assert type(got) is case.error, f"{name}: {type(got).__name__}: {got}"
        assert says_what_to_do(str(got)), str(got)
    normal = answer(cases["portrait.jpg"].path, detector)
    assert isinstance(normal, AlignedFace) and normal.n_faces == 1, normal


def test_corpus_covers_every_kind(cases):
    assert {case.expected for case in cases.values()} == {
        "ok", "not_image", "unsupported_format", "corrupt", "too_large", "no_face", "too_small"}


def test_refused_content_never_reaches_pillow(cases, monkeypatch):
    """Image.open is not even called for refused content; for accepted content it is
    told the one format the magic bytes say (never "try every reader")."""
    calls = []
    real_open = Image.open

    def spy(fp, mode="r", formats=None):
        calls.append(formats)
        return real_open(fp, mode, formats)

    monkeypatch.setattr(Image, "open", spy)
    monkeypatch.setattr(EpsImagePlugin, "Ghostscript", _forbidden)
    for case in cases.values():
        calls.clear()
        if case.expected in ("not_image", "unsupported_format"):
            with pytest.raises(case.error):
                load_image(case.path)
            assert calls == [], case.name
        elif case.expected == "ok":
            load_image(case.path)
            assert len(calls) == 1 and len(calls[0]) == 1, (case.name, calls)


def _forbidden(*args, **kwargs):
    raise AssertionError("Ghostscript must never run")


def test_unsupported_message_names_the_accepted_formats(cases):
    with pytest.raises(UnsupportedFormatError) as info:
        load_image(cases["eps_named.png"].path)
    assert "EPS" in str(info.value) and ACCEPTED_NAMES in str(info.value)
    assert "re-export it as PNG or JPEG" in str(info.value)


def test_undecoded_pil_image_of_a_refused_format_is_not_decoded(monkeypatch):
    """An EPS the caller opened (lazily) is refused before ``load`` runs Ghostscript;
    pixels already decoded are accepted whatever their origin."""
    lazy = Image.open(io.BytesIO(EPS_BYTES))
    assert lazy.format == "EPS"
    monkeypatch.setattr(type(lazy), "load", _forbidden)
    with pytest.raises(UnsupportedFormatError, match="EPS"):
        load_image(lazy)
    icon = Image.open(io.BytesIO(_ico_bytes()))
    icon.load()  # decoded by the caller: fine
    assert load_image(icon).mode == "RGB"


def _ico_bytes() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (32, 32), (10, 200, 30)).save(out, "ICO", sizes=[(32, 32)])
    return out.getvalue()


def test_animated_gif_gives_its_first_frame(cases):
    path = cases["animated.gif"].path
    with Image.open(path) as gif:
        assert gif.n_frames == 2
        first = np.asarray(gif.convert("RGB"), np.int16)
    assert np.array_equal(np.asarray(load_image(path), np.int16), first)


def test_16bit_png_keeps_its_pixels(cases):
    assert np.array_equal(np.asarray(load_image(cases["deep16.png"].path)),
                          np.asarray(portrait(3)))


def test_cmyk_and_exif_rotated_photos_come_out_like_the_original(cases):
    for name, index in (("cmyk.jpg", 0), ("exif_rotated.jpg", 1)):
        loaded = np.asarray(load_image(cases[name].path), np.float32)
        original = np.asarray(portrait(index), np.float32)
        assert loaded.shape == original.shape
        assert np.abs(loaded - original).mean() < 8.0, name


def test_exif_rotated_face_is_upright(cases, detector):
    aligned = align_face(load_image(cases["exif_rotated.jpg"].path), 128, detector=detector)
    eyes, mouth = aligned.source_landmarks[36:48], aligned.source_landmarks[48:68]
    assert eyes[:, 1].mean() < mouth[:, 1].mean()  # eyes above the mouth
