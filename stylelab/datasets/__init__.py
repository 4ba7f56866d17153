"""Datasets built from generators: the labelled synthetic face set."""

from .faceset import (
    COLUMNS,
    FaceSet,
    FaceSetConfig,
    build_faceset,
    label_images,
    list_facesets,
    load_faceset,
)

__all__ = ["COLUMNS", "FaceSet", "FaceSetConfig", "build_faceset", "label_images",
           "list_facesets", "load_faceset"]
