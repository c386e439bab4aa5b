"""The web front end: static files served by ``palermo serve``; it speaks only to ``/api/v1``."""
