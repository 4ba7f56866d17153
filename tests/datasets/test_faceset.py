"""The face set: sharded, resumable, deterministic from seeds, exported small."""

import numpy as np
import pytest
import torch

from stylelab.datasets.faceset import COLUMNS, FaceSet, FaceSetConfig, build_faceset
from stylelab.faces.faceapi import EXPRESSIONS


class FakeMeasurer:
    """Landmarks of the generic face on every other image; constant net outputs."""

    def __init__(self):
        from stylelab.faces.attributes import MEAN_FACE_3D

        self.calls = 0
        self.faceapi = self
        self.lm = MEAN_FACE_3D[:, :2] * 0.27 * 64 + 32

    def landmarks(self, images):
        self.calls += len(images)
        return [self.lm if i % 2 == 0 else None for i in range(len(images))]

    def predict(self, images, ffhq_aligned=True):
        n = len(images)
        return {"age": torch.full((n,), 30.0), "gender_male_prob": torch.full((n,), 0.25),
                "expressions": torch.full((n, len(EXPRESSIONS)), 1 / len(EXPRESSIONS))}


@pytest.fixture
def config():
    return FaceSetConfig(model="tiny-test", size=64, shard_size=4, batch_size=3, first_seed=7)


def test_build_resume_load_export(tiny, tmp_path, config):
    m = FakeMeasurer()
    paths = build_faceset(tiny, tmp_path, 10, m, config, progress=False)
    assert [p.name for p in paths] == ["shard_00000007_4.safetensors",
                                       "shard_00000011_4.safetensors",
                                       "shard_00000015_2.safetensors"]
    assert m.calls == 10
    paths[1].unlink()
    build_faceset(tiny, tmp_path, 10, m, config, progress=False)
    assert m.calls == 14  # only the missing shard was labelled again
    fs = FaceSet.load(tmp_path)
    assert len(fs) == 10 and fs.columns == COLUMNS
    assert fs.seeds.tolist() == list(range(7, 17))
    assert fs.w.shape == (10, tiny.w_dim) and fs.landmarks.shape == (10, 68, 2)
    found = fs.labels["face_found"]
    # batches of 3 within shards of 4: the fake finds faces at batch positions 0 and 2
    assert found.tolist() == [1, 0, 1, 1] * 2 + [1, 0]
    assert np.isnan(fs.labels["smile"][found == 0]).all()
    assert np.isfinite(fs.labels["smile"][found == 1]).all()
    assert fs.labels["age"] == pytest.approx(np.full(10, 30.0))
    cpu = float(fs.meta["cpu_seconds"])  # a tiny model can take under a millisecond
    assert np.isfinite(cpu) and cpu >= 0
    # W is the mapping of the seeds: the stored W and a fresh mapping agree
    stored = fs.latents(tiny)
    fs.w = None
    assert torch.allclose(fs.latents(tiny), stored, atol=1e-5)
    # the export is small, fp16, and loads back with the same seeds and labels
    out = fs.export(tmp_path / "labels.safetensors")
    back = FaceSet.load(out)
    assert back.seeds.tolist() == fs.seeds.tolist() and back.w is None
    np.testing.assert_allclose(back.labels["age"], 30.0)
    assert back.valid("smile").sum() == 7


def test_render_is_deterministic(tiny, tmp_path, config):
    build_faceset(tiny, tmp_path, 4, FakeMeasurer(), config, progress=False)
    fs = FaceSet.load(tmp_path)
    a = fs.render(tiny, [0, 2], size=64)
    b = fs.subset(np.array([0, 2])).render(tiny, [0, 1], size=64)
    assert a.shape == (2, 3, 64, 64) and torch.equal(a, b)


def test_other_settings_in_the_same_folder_are_refused(tiny, tmp_path, config):
    build_faceset(tiny, tmp_path, 4, FakeMeasurer(), config, progress=False)
    config.psi = 0.5
    with pytest.raises(ValueError, match="other settings"):
        build_faceset(tiny, tmp_path, 4, FakeMeasurer(), config, progress=False)


def test_wrong_model_and_empty_folder(tiny, tmp_path, config):
    with pytest.raises(FileNotFoundError, match="make_faceset"):
        FaceSet.load(tmp_path)
    build_faceset(tiny, tmp_path, 4, FakeMeasurer(), config, progress=False)
    fs = FaceSet.load(tmp_path)
    fs.meta["model"] = "mobilestylegan-ffhq"
    with pytest.raises(ValueError, match="made with"):
        fs.render(tiny, [0])


def test_export_writes_checksum_and_info_and_loads_by_name(tiny, tmp_path, config, monkeypatch):
    import json

    from stylelab.cache import CacheError
    from stylelab.datasets import faceset as mod

    build_faceset(tiny, tmp_path / "shards", 4, FakeMeasurer(), config, progress=False)
    assets = tmp_path / "assets"
    assets.mkdir()
    out = FaceSet.load(tmp_path / "shards").export(assets / "tiny-set.safetensors", {"x": 1})
    info = json.loads(out.with_suffix(".json").read_text())
    assert info["faces"] == 4 and info["x"] == 1 and info["columns"]["age"]["mean"] == 30.0
    monkeypatch.setattr(mod, "ASSETS", assets)
    assert mod.list_facesets() == ["tiny-set"]
    assert len(mod.load_faceset("tiny-set")) == 4
    with pytest.raises(ValueError, match="shipped: tiny-set"):
        mod.load_faceset("nope")
    data = bytearray(out.read_bytes())
    data[-1] ^= 1
    out.write_bytes(bytes(data))
    with pytest.raises(CacheError, match="checksum"):
        mod.load_faceset("tiny-set")


def test_latents_of_more_faces_than_one_seed_batch(tiny):
    """W of a face set larger than z_from_seeds' 1024-seed limit, mapped in chunks."""
    from stylelab.latents import z_from_seeds

    fs = FaceSet(np.arange(1500), {}, {"model": tiny.model_name, "psi": "1.0"})
    w = fs.latents(tiny)
    assert w.shape == (1500, tiny.w_dim)
    with torch.no_grad():
        assert torch.allclose(w[1100:1105], tiny.map(z_from_seeds(list(range(1100, 1105)),
                                                                  tiny.z_dim), 1.0))
