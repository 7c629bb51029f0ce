"""Genomes shipped with phylolm-harness: ``math.json`` and ``code.json``."""
