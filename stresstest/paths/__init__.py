"""Price-path sources: each yields chunks of paths as a (paths x (T + 1)) array."""

from stresstest.paths.source import PathSource, path_source

__all__ = ["PathSource", "path_source"]
