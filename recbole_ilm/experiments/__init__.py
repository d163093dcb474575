"""Experiments on top of the library: the benchmark grid, phase 1 alone for several loss sets, chat training.

Nothing in the library imports from here."""
