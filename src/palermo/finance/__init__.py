"""Follow the money: transaction scanning for FIUs and banks.

So far ``scan.py`` (``palermo finance scan``: a scan of one transaction CSV, without a
workspace) with its detectors in ``patterns.py`` and its risk scorer (``features.py``,
``model.py``; trained on simulated cases by ``train.py`` through ``simcase.py``, scored against
their truth by ``evaluate.py``).
"""

from __future__ import annotations

from palermo.finance.patterns import PATTERNS, ScanParams
from palermo.finance.scan import scan

__all__ = ["PATTERNS", "ScanParams", "scan"]
