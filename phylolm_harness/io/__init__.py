"""Reading and writing files: lm-eval output folders, populations files, documents, CSV tables.

``runs`` is the one index of lm-eval output folders; ``samples`` and ``benchmark_scores`` read
through it. ``files`` writes every output atomically.
"""
