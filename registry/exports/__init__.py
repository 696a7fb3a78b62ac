"""Case-series exports (issue 7): publication tables and figures, CSV/XLSX/HTML/tidy data, background files.

selectors (the queries) → tables / tidy (pure pandas shaping) and figures (matplotlib) → formats (writers);
builder runs one export end to end for the views, the Celery task (:mod:`registry.tasks`) and the
``case_series`` command; modes holds the export modes of DESIGN §5; services writes the export log.
"""
