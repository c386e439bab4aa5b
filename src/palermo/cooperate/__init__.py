"""Across borders: sharing packages between workspaces (``keys.py``, ``envelope.py``,
``share.py``; the store's side in ``store/packages.py``)."""
