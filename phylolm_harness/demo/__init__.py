"""The offline demo: real registry-shipped models, relatives with a known history, lm_eval, tree.

``registry`` fetches and converts the weights, ``population`` derives the relatives,
``collection`` runs ``lm_eval`` on each model, ``run`` builds the tree and scores what it found;
``cache`` keeps every step's folder complete and checked.
"""
