"""PDF and PNG reports of a run or a comparison, drawn only from its result folder."""

from stresstest.report.build import build_report, report_to_file

__all__ = ["build_report", "report_to_file"]
