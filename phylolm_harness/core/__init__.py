"""The numeric core: alleles, observations, populations, similarity, trees and predictions.

Pure functions over arrays, sparse matrices and frozen dataclasses: nothing here reads or writes
files or imports lm-eval, torch or matplotlib.
"""
