"""Genomes: gene sets with a fingerprint (``genome``), drawn from documents (``build``).

Two genomes ship here, ``math.json`` and ``code.json``; ``PROVENANCE.md`` says where their genes
come from and how to rebuild them byte for byte.
"""
