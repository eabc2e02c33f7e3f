"""Scenario files: schema, validation, overrides and provenance."""

from stresstest.scenario.schema import Scenario
from stresstest.scenario.validate import load_scenario

__all__ = ["Scenario", "load_scenario"]
