"""The directions shipped for mobilestylegan-ffhq: the external check against the published
StyleGAN2-FFHQ directions (../shared/reference/e4e, never shipped) and their effect on the
measured attributes of real generated faces."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from stylelab.directions.base import apply_edits
from stylelab.directions.library import DirectionLibrary, shipped_dir

pytestmark = pytest.mark.weights


@pytest.fixture(scope="module")
def library(mobile):
    if not (shipped_dir("mobilestylegan-ffhq") / "interfacegan.json").is_file():
        pytest.fail("the shipped directions are missing from stylelab/assets/directions")
    return DirectionLibrary(mobile)


def cos(a, b) -> float:
    a, b = np.asarray(a, np.float64).ravel(), np.asarray(b, np.float64).ravel()
    return float(a @ b / np.linalg.norm(a) / np.linalg.norm(b))


@pytest.mark.parametrize("name", ["smile", "age"])
def test_interfacegan_matches_the_published_boundary(library, shared_dir, name):
    ours = library.get("interfacegan").vector(name).numpy()
    reference = np.load(shared_dir / "reference" / "e4e" / f"{name}.npy")
    value = abs(cos(ours, reference))
    print(f"|cos(ours, e4e {name})| = {value:.3f}")
    assert value >= 0.5


def test_ganspace_first_component_matches_the_published_one(library, shared_dir):
    ours = library.get("ganspace")
    reference = np.load(shared_dir / "reference" / "e4e" / "ffhq_pca.npz")
    values = [abs(cos(ours.vectors[i], reference["comp"][i])) for i in range(3)]
    print("|cos(ours pc_i, e4e pc_i)| for i = 0, 1, 2:", [round(v, 3) for v in values])
    assert values[0] >= 0.9
    ratio = ours.metadata["explained_variance_ratio"]
    assert sum(ratio[:20]) > 0.5  # the first 20 components carry most of W's variance


def test_every_shipped_set_loads_and_fits(library, mobile):
    for kind in ("interfacegan", "ganspace", "stylespace", "sefa"):
        direction = library.get(kind)
        direction.check(mobile)
        assert torch.isfinite(direction.vectors).all() and (direction.scales > 0).all()


def test_shipped_localisation_puts_mouth_channels_on_the_mouth(library, mobile):
    from stylelab.models.stylespace import s_dim

    loc = library.localisation()
    assert loc is not None and loc.energy.shape == (7, s_dim(mobile))
    mouth = loc.regions.index("mouth")
    top = loc.top_channels("mouth", 5)
    assert all(loc.lift[mouth, c] > 3 for c in top)  # far more than the mouth's area share
    assert float(loc.area.sum()) == pytest.approx(1.0, abs=1e-3)


@pytest.mark.slow
def test_named_edits_move_their_measure(library, mobile, faceapi_dir):
    """+2 sigma along smile / age raise the measured smile / age of held-out faces;
    the detected StyleSpace smile channel does too."""
    from stylelab import z_from_seeds
    from stylelab.directions.measures import FaceMeasurer
    from stylelab.faces import FaceAttributes

    measurer = FaceMeasurer(FaceAttributes.from_dir(faceapi_dir))
    w = mobile.map(z_from_seeds(range(200000, 200006)), 0.7)
    ifg, ss = library.get("interfacegan"), library.get("stylespace")
    with torch.no_grad():
        base = measurer.measure(mobile.synthesis(w, size=256), ("smile", "age"))
        for direction, name, strength, measure in [(ifg, "smile", 2.0, "smile"),
                                                   (ifg, "age", 2.0, "age"),
                                                   (ss, "smile", 20.0, "smile")]:
            edited = mobile.synthesis(apply_edits(mobile, w, [(direction, name, strength, None)]),
                                      size=256)
            after = measurer.measure(edited, (measure,))[measure]
            change = np.nanmean(after - base[measure])
            print(f"{direction.method} {name} +{strength}: mean change of {measure} {change:.3f}")
            assert change > 0
