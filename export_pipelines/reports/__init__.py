"""PDF reports: templates (template.py), fonts (fonts.py), page geometry (layout.py), drawing
(canvas_table.py, page.py), the document that ties them (document.py) and the preview command.

The ``pdf`` format (``export_pipelines.formats.pdf``) is the only user inside the pipeline.
"""
