"""Datasets built from generators: the labelled synthetic face set."""

from .faceset import COLUMNS, FaceSet, FaceSetConfig, build_faceset, label_images

__all__ = ["COLUMNS", "FaceSet", "FaceSetConfig", "build_faceset", "label_images"]
