"""The leaderboard: storage (JSON, CSV), rendering (Markdown) and comparison with a committed one."""

from ehrbench.report.compare import compare
from ehrbench.report.leaderboard import Entry, Leaderboard
from ehrbench.report.render import render, render_markdown

__all__ = ["Entry", "Leaderboard", "compare", "render", "render_markdown"]
