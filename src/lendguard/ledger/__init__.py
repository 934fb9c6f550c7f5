"""The two products' pure domain: events, state folds, command decisions, accounting.

Nothing in this package does I/O or reads the wall clock.
"""
