"""Entity resolution: who is who across sources and alphabets (Splink on DuckDB).

``link_files`` is the standalone linkage of one or two person lists (``palermo link``)."""

from palermo.resolve.link import LinkResult, link_files

__all__ = ["LinkResult", "link_files"]
