"""Rendering: CSV tables, pictures and Markdown, all in memory (name -> bytes).

Nothing here writes files: the results of :mod:`phylolm_harness.pipeline` render them with
``files()``, and their callers (the command line, the demo) write them with
:func:`phylolm_harness.io.files.write_outputs`.
"""
