"""Pipelines: user-level operations that hide tensor plumbing (used by the CLI and the hub)."""

from .generate import GenerationPipeline, get_pipeline

__all__ = ["GenerationPipeline", "get_pipeline"]
