"""The engine: validate, prepare arrays, stream paths through the kernels, wrap results."""

from stresstest.engine.result import Result
from stresstest.engine.run import run

__all__ = ["Result", "run"]
