"""Settings package.

``registry.settings.base`` is the configuration read from the environment (and from a ``.env`` file in the
project folder when one exists) — the default of ``manage.py``, WSGI, ASGI and Celery.
``registry.settings.production`` hardens it for deployment and ``registry.settings.test`` is what pytest uses.
"""
