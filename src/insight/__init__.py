"""Insight: structured analysis, semantic search, prompt evaluation and classical prediction."""

__version__ = "0.1.0"
