"""The de-identified REST API (``/api/v1/``): token authentication, scoping, pagination, errors, CSV, the data
dictionary and the router. The resources themselves live in each app's ``api.py`` and ``serializers.py``."""
