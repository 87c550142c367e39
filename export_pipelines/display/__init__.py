"""How values are shown: per-column display rules, a locale, highlight styles, and the text they give.

A rule can come from the catalog (a column's default), a PDF template, or the request; the request
checks and merges them (``request.formatting``) and hands the result, a ``DisplayRules``, to the
renderers: XLSX turns it into Excel number and conditional formats, PDF and formatted CSV/JSON into
text. Locale data (symbols, currency and date patterns, month names) comes from Babel.

This folder imports no other folder of the package, so the catalog, the reports and the formats
can all speak it.
"""
