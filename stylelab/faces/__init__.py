"""The face pipeline: load a photo, find the face, align it like FFHQ, measure it,
paste an edited crop back.

>>> from stylelab.faces import load_image, align_face, paste_back, landmark_attributes
>>> photo = load_image("portrait.jpg")                  # upright RGB, size-checked
>>> aligned = align_face(photo, size=256)               # FFHQ-aligned crop + geometry
>>> landmark_attributes(aligned.landmarks)["smile"]     # landmark measures
>>> result = paste_back(photo, edited_crop, aligned)    # feathered composite
>>> IdentityModel().embed(images)                       # differentiable dlib 128-D identity
>>> FaceAttributes().predict(images, ffhq_aligned=True) # face-api.js age, gender, expressions

dlib and its model files are needed for detection (``pip install stylelab[faces]``).
Every error a user can fix is a :class:`FaceError` (a ValueError) with a clear message.
"""

from .align import MIN_QUAD_SIZE, AlignedFace, align_face, ffhq_quad, quad_matrix
from .attributes import (
    MEAN_FACE_3D,
    eye_openness,
    fit_pose,
    landmark_attributes,
    mirror_landmarks,
    mouth_open,
    mouth_width,
    roll,
    smile,
    yaw_pitch,
)
from .detect import (
    Face,
    FaceDetector,
    default_detector,
    detect_faces,
    dlib_model_path,
    largest_face,
)
from .errors import (
    CorruptImageError,
    FaceError,
    FaceTooSmallError,
    ImageLoadError,
    ImageTooLargeError,
    ImageTooSmallError,
    MissingModelError,
    NoFaceError,
    NotAnImageError,
    UnsupportedFormatError,
)
from .faceapi import EXPRESSIONS, FaceAttributes
from .formats import ACCEPTED_FORMATS
from .identity import (
    SAME_PERSON_THRESHOLD,
    IdentityModel,
    canonical_landmarks,
    dlib_descriptor,
    dlib_distance,
    face_chip,
    similarity,
)
from .io import ALIGN_MAX_SIDE, DEFAULT_MAX_PIXELS, load_image
from .paste import face_mask, paste_back, paste_size
from .regions import REGIONS, region_masks

__all__ = [
    "ACCEPTED_FORMATS",
    "ALIGN_MAX_SIDE",
    "DEFAULT_MAX_PIXELS",
    "EXPRESSIONS",
    "MEAN_FACE_3D",
    "MIN_QUAD_SIZE",
    "REGIONS",
    "SAME_PERSON_THRESHOLD",
    "AlignedFace",
    "CorruptImageError",
    "Face",
    "FaceAttributes",
    "FaceDetector",
    "FaceError",
    "FaceTooSmallError",
    "IdentityModel",
    "ImageLoadError",
    "ImageTooLargeError",
    "ImageTooSmallError",
    "MissingModelError",
    "NoFaceError",
    "NotAnImageError",
    "UnsupportedFormatError",
    "align_face",
    "canonical_landmarks",
    "default_detector",
    "detect_faces",
    "dlib_descriptor",
    "dlib_distance",
    "dlib_model_path",
    "eye_openness",
    "face_chip",
    "ffhq_quad",
    "fit_pose",
    "landmark_attributes",
    "largest_face",
    "load_image",
    "mirror_landmarks",
    "mouth_open",
    "mouth_width",
    "face_mask", "paste_back", "paste_size",
    "quad_matrix",
    "region_masks",
    "roll",
    "similarity",
    "smile",
    "yaw_pitch",
]
