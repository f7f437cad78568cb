"""Textual operator console."""
