"""Justice for victims: indicator-based screening (``screen.py``), leads from the data and the
non-punishment flag (``leads.py``), unpaid wages (``wages.py``), referral (``referral.py``),
HTCDS records and protected counts (``export.py``), evaluation against a simulated truth."""

from palermo.victims.screen import indicators, read_interview, screen

__all__ = ["indicators", "read_interview", "screen"]
