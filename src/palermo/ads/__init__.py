"""Recruitment and escort ads (issue 14): near-duplicate campaigns, shared identifiers,
templates. So far ``cluster.py`` (``palermo ads cluster``, no workspace) over ``text.py``."""
