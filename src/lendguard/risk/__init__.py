"""Credit risk models and their validation (issue #5).

``validation`` measures a model from plain arrays of outcomes and scores (discrimination,
calibration, stability, gains, swap sets) and ``report`` turns those measurements into the
HTML and JSON a model-risk reviewer signs off from. Neither knows the model classes, so
the scorecard, the LightGBM challenger and any outside score are validated alike.
"""
