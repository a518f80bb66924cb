"""Untrusted text shown on a terminal or inside a sentence (safe_text.py): bidirectional controls never act."""

from __future__ import annotations

from postergenre.safe_text import safe_text, without_bidi_controls

BIDI = "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"


def test_bidi_controls_are_escaped_on_a_terminal_and_left_out_of_sentences() -> None:
    name = "pip\u202egpj.yks.jpg \u2067night\u2069"
    assert safe_text(name) == "pip\\u202egpj.yks.jpg \\u2067night\\u2069"
    assert without_bidi_controls(name) == "pipgpj.yks.jpg night"
    assert without_bidi_controls(BIDI) == "" and safe_text(BIDI).count("\\u") == len(BIDI)
    kept = "\u200f\u05d0\u05d1 \u0627 caf\u00e9"  # right-to-left letters and marks stay: only the controls go
    assert without_bidi_controls(kept) == kept and safe_text(kept) == kept
