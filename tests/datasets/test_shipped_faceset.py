"""The shipped face set: its size and columns, and its labels are those of its seeds' faces."""

import numpy as np
import pytest

from stylelab.datasets import COLUMNS, list_facesets, load_faceset

NAME = "mobilestylegan-ffhq-psi1"


def test_shipped_set_is_complete():
    assert NAME in list_facesets()
    fs = load_faceset(NAME)
    assert len(fs) >= 20_000 and fs.columns == COLUMNS
    assert fs.seeds.tolist() == list(range(len(fs)))
    assert np.nanmean(fs.labels["face_found"]) > 0.98
    assert fs.valid("age", "gender").all()
    found = fs.labels["face_found"] == 1
    assert np.isfinite(fs.labels["smile"][found]).all()
    assert np.isnan(fs.labels["smile"][~found]).all()


@pytest.mark.weights
def test_labels_match_a_fresh_measurement(faceapi_dir):
    """Re-render 4 faces from their seeds and label them again: the shipped (fp16) labels agree."""
    from stylelab import load_generator
    from stylelab.datasets import label_images
    from stylelab.directions.measures import FaceMeasurer
    from stylelab.faces import FaceAttributes

    fs = load_faceset(NAME)
    G = load_generator(fs.meta["model"])
    index = [0, 1, 2, 3]
    labels, _ = label_images(fs.render(G, index, size=int(fs.meta["size"])),
                             FaceMeasurer(FaceAttributes.from_dir(faceapi_dir)))
    for c in ("age", "gender", "happy", "smile", "yaw", "skin_luma", "hair_r"):
        np.testing.assert_allclose(fs.labels[c][index], labels[c], rtol=2e-3, atol=2e-3,
                                   err_msg=c)
