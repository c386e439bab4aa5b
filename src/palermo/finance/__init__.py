"""Follow the money: transaction scanning for FIUs and banks.

So far ``scan.py`` (``palermo finance scan``: a rules-only scan of one transaction CSV, without a
workspace) with its detectors in ``patterns.py``.
"""

from __future__ import annotations

from palermo.finance.patterns import PATTERNS, ScanParams
from palermo.finance.scan import scan

__all__ = ["PATTERNS", "ScanParams", "scan"]
