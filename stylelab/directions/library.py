"""Named direction sets per generator: shipped for the default model, computed (and cached)
on first use for others.

>>> sets = DirectionLibrary(G)
>>> sets.get("ganspace")        # Direction with pc0..pc79
>>> sets.get("interfacegan")    # smile, age, gender, ... (labels faces on first use)

Shipped files live in ``stylelab/assets/directions/<model>/``; computed ones in
``<cache>/directions/<model>/``. The expensive step, labelling faces, runs with a tqdm
progress bar and is cached too (``samples.safetensors``).
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from ..cache import cache_dir
from ..models.base import StyleGenerator
from ..models.stylespace import latent_owner
from .base import Direction, DirectionError
from .ganspace import GANSpaceConfig, ganspace
from .measures import MEASURES, FaceMeasurer, MeasuredSamples, sample_and_measure
from .sefa import sefa

KINDS = ("interfacegan", "ganspace", "sefa", "stylespace")
# measures with enough spread on FFHQ faces to fit a boundary
SUPERVISED = ("smile", "age", "gender", "yaw", "eye_openness", "mouth_open", "happy",
              "neutral", "surprised", "sad", "disgusted")


def shipped_dir(model: str) -> Path:
    return Path(str(resources.files("stylelab") / "assets" / "directions" / model))


def computed_dir(model: str) -> Path:
    return cache_dir() / "directions" / model.replace("/", "_").replace(":", "_")


class DirectionLibrary:
    """Loads or computes the direction sets of one generator, each once.

    ``samples``: how many faces to label when InterFaceGAN/StyleSpace must be computed.
    ``measurer``: the :class:`FaceMeasurer` used then (default: the standard one).
    """

    def __init__(self, G: StyleGenerator, samples: int = 2000,
                 measurer: FaceMeasurer | None = None, progress: bool = True):
        self.G = G
        # an adapted child edits with its parent's sets (same W and S): see latent_owner
        self.owner = latent_owner(G, "s")
        self.samples = samples
        self._measurer = measurer
        self.progress = progress
        self._sets: dict[str, Direction] = {}

    def available(self, kind: str) -> bool:
        """True when ``kind`` can be loaded without computing."""
        return any((d / f"{kind}.json").is_file()
                   for d in (shipped_dir(self.owner), computed_dir(self.owner)))

    def get(self, kind: str) -> Direction:
        if kind not in KINDS:
            raise DirectionError(f"unknown direction set {kind!r}; valid: {', '.join(KINDS)}")
        if kind not in self._sets:
            self._sets[kind] = self._load(kind) or self._compute(kind)
        return self._sets[kind]

    def _load(self, kind: str) -> Direction | None:
        for folder in (shipped_dir(self.owner), computed_dir(self.owner)):
            if (folder / f"{kind}.json").is_file():
                direction = Direction.load(folder / kind)
                direction.check(self.G)
                return direction
        return None

    def _compute(self, kind: str) -> Direction:
        if kind == "sefa":
            return sefa(self.G, components=10)  # closed form, milliseconds: never cached
        if self.owner != self.G.model_name and kind != "ganspace":  # needs the parent's faces
            raise DirectionError(f"{self.G.model_name} edits with {self.owner}'s {kind} "
                                 f"directions, which are not computed yet: open {self.owner} "
                                 "in the Edit tab once to compute them")
        if kind == "ganspace":
            direction = ganspace(self.G, GANSpaceConfig(), progress=self.progress)
        elif kind == "interfacegan":
            from .interfacegan import interfacegan

            direction = interfacegan(self.G, self.measured(), list(SUPERVISED))
        else:
            from .detect import detect_attribute_channels

            direction = detect_attribute_channels(self.G, self.measured(), self.measurer,
                                                  progress=self.progress)
        direction.save(computed_dir(self.owner) / kind)
        return direction

    def localisation(self):
        """The shipped or cached per-region channel :class:`~.stylespace.Localisation`
        (``localisation.safetensors``), or None when there is none for this generator."""
        from safetensors.torch import load_file

        from .stylespace import Localisation

        for folder in (shipped_dir(self.owner), computed_dir(self.owner)):
            path = folder / "localisation.safetensors"
            if path.is_file():
                tensors = load_file(str(path))
                return Localisation(tensors["energy"], tensors["area"])
        return None

    @property
    def measurer(self) -> FaceMeasurer:
        if self._measurer is None:
            self._measurer = FaceMeasurer()
        return self._measurer

    def measured(self) -> MeasuredSamples:
        """Labelled samples of this generator (cached on disk after the first run)."""
        path = computed_dir(self.G.model_name) / "samples.safetensors"
        if path.is_file():
            samples = MeasuredSamples.load(path)
            if len(samples.w) >= self.samples and set(MEASURES) <= set(samples.measures):
                return samples
        samples = sample_and_measure(self.G, self.samples, self.measurer,
                                     progress=self.progress)
        path.parent.mkdir(parents=True, exist_ok=True)
        samples.save(path)
        return samples

