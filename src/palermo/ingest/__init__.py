"""Ingestion: readers, mapping files, normalisers, and the pipeline that stores with provenance."""
