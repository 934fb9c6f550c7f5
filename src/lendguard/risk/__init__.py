"""Credit risk models and their validation (issue #5): features, binning, selection, the
scorecard, the LightGBM challenger, model artefacts, training and scoring end to end,
and validation.

The model modules depend on numpy, polars, scikit-learn and LightGBM only; optbinning is
imported lazily, for comparison (``BinningOptions(method="optbinning")``). Nothing here
touches a store: data arrives as polars frames, or — for ``behaviour``, the behaviour
features at an as-of date — as the ledger's events, handed over by ``lendguard.asof``.
``validation`` measures a model from plain arrays of outcomes and scores (discrimination,
calibration, stability, gains, swap sets) and ``report`` turns those measurements into the
HTML and JSON a model-risk reviewer signs off from; neither knows the model classes, so the
scorecard, the challenger and any outside score are validated alike.
"""
