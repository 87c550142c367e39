"""Output formats: a Renderer interface, a registry filled by the modules of this package."""

from export_pipelines.formats.base import RenderContext, Renderer, registered_formats, renderer_class

__all__ = ["RenderContext", "Renderer", "registered_formats", "renderer_class"]
