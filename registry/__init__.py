"""Project package and cross-cutting app of the CAR T case-series registry."""

from registry.celery import app as celery_app

__all__ = ("celery_app",)
