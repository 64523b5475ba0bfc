"""Reports of a suite run: JSON (`json_report`), JUnit XML (`junit`), HTML (`html`), and the terminal
(`console`)."""

from .console import ProgressPrinter, summary
from .html import render_html, write_html
from .json_report import write_json
from .junit import write_junit
from .text import failure_text

__all__ = ["ProgressPrinter", "failure_text", "render_html", "summary", "write_html", "write_json", "write_junit"]
