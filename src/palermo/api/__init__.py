"""The REST API (``/api/v1``) and the web application over it (``palermo serve``)."""
