"""Pentad: five API documents served by one Python service on one shared core."""

__version__ = "0.1.0"
