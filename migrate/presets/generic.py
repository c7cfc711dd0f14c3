"""Any S3-compatible server: the endpoint is given, features are found by the probe."""

from migrate.presets.base import Preset

PRESET = Preset("generic", None, None, path_style=True)
