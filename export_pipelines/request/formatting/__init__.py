"""A request's display rules: the fields the launchpad shows (``fields``) and their check against the
catalog, the template and the export's columns (``check``), which gives the renderers a ``DisplayRules``."""
