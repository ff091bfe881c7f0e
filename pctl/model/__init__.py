"""The template model (pydantic) and its YAML loader."""

from pctl.model.template import Template

__all__ = ["Template"]
