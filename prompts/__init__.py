"""Prompt templates as files (used by generated answers; the extractive path needs none)."""
