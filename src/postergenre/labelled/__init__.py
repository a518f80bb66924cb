"""Labelled data and how predictions are scored against it: catalog films with their cached vectors and genre labels,
their cross-validation splits, metrics with intervals and calibration. Below both training (how a model is made)
and evaluation (how a saved one reads), so neither needs the other."""
