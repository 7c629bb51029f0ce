"""Rendering: CSV tables, pictures and Markdown, all in memory (name -> bytes).

Nothing here writes files: :mod:`phylolm_harness.pipeline` hands the rendered files to
:func:`phylolm_harness.io.files.write_outputs`.
"""
