"""Holdspace: live session monitoring for ketamine-assisted psychotherapy."""

__version__ = "0.1.0"
