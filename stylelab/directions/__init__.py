"""Editing directions: one module per method, one :class:`Direction` type for all."""
