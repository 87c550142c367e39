"""What can be exported: the catalog of datasets and columns (catalog.yaml), the filter tree over their
columns, and search. Every floor speaks it (the request, the source's SQL, the renderers), so it imports
none of them."""
