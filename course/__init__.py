"""Helpers for *Large Models, Hands-On*: checks, grader, notebook tools, data and plotting.

Each module is small and named after one concept; notebooks import what they use, e.g.
``from course import check`` or ``from course.data import digits_split``.
"""
from course.device import get_device, seed_everything
from course.progress import progress

__all__ = ["get_device", "seed_everything", "progress"]
