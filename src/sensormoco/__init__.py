"""sensormoco: MoCo-v2 on geo-aligned Sentinel-1/Sentinel-2 pairs, with transfer evaluation."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("sensormoco")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+unknown"
