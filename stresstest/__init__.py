"""stresstest: stress-test default-risk defences of derivatives venues."""

from importlib.metadata import PackageNotFoundError, version

from stresstest.errors import InputError

try:
    __version__ = version("stresstest")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0.0.0+unknown"

__all__ = ["InputError", "__version__"]
