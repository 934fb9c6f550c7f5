"""Credit risk models: features, binning, selection, the scorecard, the LightGBM
challenger, model artefacts, and training/scoring end to end.

The modules depend on numpy, polars, scikit-learn and LightGBM only; optbinning is
imported lazily, for comparison (``BinningOptions(method="optbinning")``). Nothing here
touches the ledger or a store: data arrives as polars frames.
"""
