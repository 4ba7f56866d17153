"""face-api.js' age/gender and facial-expression networks, converted to PyTorch.

face-api.js (https://github.com/justadudewhohacks/face-api.js) is MIT-licensed,
(c) 2018 Vincent Mühler; its weights are published with the project and are
downloaded (or read from a folder) at run time, never shipped here.

>>> from stylelab.faces.faceapi import FaceAttributes, EXPRESSIONS
>>> fa = FaceAttributes()                                 # lazy; cache, else download
>>> out = fa.predict(images, ffhq_aligned=True)           # (N, 3, S, S) in [-1, 1]
>>> out["age"], out["gender_male_prob"], out["expressions"]   # (N,), (N,), (N, 7)

The PyTorch modules match face-api.js 0.22.2 (TF.js CPU backend) to ~1e-5 on
the same 112x112 inputs (see tests/faces/test_faceapi.py).
"""

from .nets import (
    AgeGenderNet,
    FaceExpressionNet,
    FaceFeatureExtractor,
    TinyXception,
    tfjs_to_torch,
)
from .predict import (
    EXPRESSIONS,
    FACEAPI_FILES,
    FACEAPI_URL,
    FFHQ_FACE_BOX,
    FaceAttributes,
    crop_ffhq_face,
    ffhq_face_box,
    load_net,
    to_net_input,
)
from .tfjs import TFJSFormatError, read_tfjs_weights

__all__ = [
    "EXPRESSIONS", "FACEAPI_FILES", "FACEAPI_URL", "FFHQ_FACE_BOX", "AgeGenderNet", "FaceAttributes",
    "FaceExpressionNet", "FaceFeatureExtractor", "TFJSFormatError", "TinyXception", "crop_ffhq_face",
    "ffhq_face_box", "load_net", "read_tfjs_weights", "tfjs_to_torch", "to_net_input",
]
