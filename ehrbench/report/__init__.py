"""The leaderboard: storage (JSON, CSV), rendering (Markdown), the study's tables and comparison."""

from ehrbench.report.compare import compare
from ehrbench.report.leaderboard import Entry, Leaderboard
from ehrbench.report.paper_tables import paper_tables
from ehrbench.report.render import render, render_markdown, render_summary

__all__ = ["Entry", "Leaderboard", "compare", "paper_tables", "render", "render_markdown", "render_summary"]
