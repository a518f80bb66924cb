"""Pages for people, from Jinja2 templates: the campaign brief, the compare sheet, the dataset and evaluation reports
and the model card.

Every HTML page renders from an autoescaped template (`environment.render_page`) with the one shared stylesheet
inlined, so a value is escaped wherever it lands and a page loads nothing from anywhere. This package lays out what
the data objects of `predict`, `evaluation` and `model` say; it decides nothing: strength bars draw the scale, levels
and reading order of `model/decisions.py` (`bars`), and "best" is the decided `VariantScore.best`.
"""
