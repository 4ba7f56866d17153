"""``pytest --nbmake research/`` runs every notebook here in smoke mode.

Set at import time, so the notebook kernels nbmake starts inherit it:

- ``STYLELAB_SMOKE=1``: the notebooks use small sizes (most finish in about a minute on a
  2-core CPU);
- ``FACEAPI_WEIGHTS``: the face-api.js weights in ``../shared/weights/faceapi`` beside the
  checkout, when that folder exists (otherwise ``FaceAttributes`` looks them up itself);
- ``HF_HUB_OFFLINE=1``: the notebooks never need the network.
"""

from __future__ import annotations

import os
from pathlib import Path

os.environ["STYLELAB_SMOKE"] = "1"
os.environ.setdefault("HF_HUB_OFFLINE", "1")

_FACEAPI = Path(__file__).resolve().parents[1].parent / "shared" / "weights" / "faceapi"
if _FACEAPI.is_dir():
    os.environ.setdefault("FACEAPI_WEIGHTS", str(_FACEAPI))

# tqdm.auto draws ipywidgets progress bars in a kernel; their comm messages are not needed
# in a headless run.
os.environ.setdefault("TQDM_DISABLE", "1")
