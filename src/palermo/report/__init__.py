"""Reports and statistics (issue 13); so far small-cell suppression, shared with the victims export."""
