"""Pipelines: user-level operations that hide tensor plumbing (used by the CLI and the hub)."""

from .edit import EditPipeline
from .generate import GenerationPipeline
from .invert import InversionPipeline
from .textedit import TextEditPipeline

__all__ = ["EditPipeline", "GenerationPipeline", "InversionPipeline", "TextEditPipeline"]
