"""How a model is made: data sets, options, cross-validation and search, splits, heads, studio fitting, baselines."""
