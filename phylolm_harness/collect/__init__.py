"""What runs inside lm-eval: task glue, the exact expansion, model classes, discovery.

``sampled`` and ``exact`` are referenced by the task YAML files (``!function``); ``models`` holds
the ``phylolm-*`` model classes; ``tasks_location`` and ``hook`` let a stock ``lm_eval`` find
them. Nothing here is imported by the rest of the package at run time of ``tree``/``predict``.
"""
