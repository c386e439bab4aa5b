"""Reports and statistics (issue 13): the case file (`case.py`), its exhibits and charts, and
small-cell suppression, shared with the victims export."""
