"""Justice for victims: indicator-based screening (``screen.py``). Leads from data, the
non-punishment flag, unpaid wages, referral and statistics come with later increments of the
victims issue."""

from palermo.victims.screen import indicators, read_interview, screen

__all__ = ["indicators", "read_interview", "screen"]
