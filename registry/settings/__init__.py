"""Settings package.

``registry.settings`` is the base configuration, read from the environment (and from a ``.env`` file in the
project folder when one exists). ``registry.settings.production`` hardens it for deployment and
``registry.settings.test`` is what pytest uses.
"""

from registry.settings.base import *  # noqa: F403
