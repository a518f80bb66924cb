"""Repairing garbled text (mojibake) in catalog titles and plots, at import and for titles already stored.

Two kinds occur. Ordinary mojibake (UTF-8 read as Windows-1252, "CafÃ©") is what `ftfy` repairs. Kaggle's
MovieGenre.csv, the source of the general catalog, went one step further: UTF-8 read as Latin-1 (or
Windows-1252), written as Mac Roman, read back as Latin-1 ("La tête haute" → "La tÌ»te haute", some twice:
"Pépé" → "Pí©pí©"). ftfy reads those as valid UTF-8 of combining marks and makes them worse, so each run of
non-ASCII characters is first walked back through the Mac Roman step (at most MAC_ROMAN_ROUNDS times) and kept
only when it ends in clean UTF-8. Bytes the file already lost (it wrote "_" for characters Mac Roman lacks:
"TrÌ_dgÌ´rdsmÌ_staren") cannot be recovered and are left as they are. Correct text (accents, other scripts, curly
quotes) is never changed.
"""

from __future__ import annotations

import re
import unicodedata
from typing import overload

MAC_ROMAN_ROUNDS = 3
_NON_ASCII_RUN = re.compile(r"[^\x00-\x7f]+")


def _clean(text: str) -> bool:
    """No C1 control characters and no combining mark without a letter before it: what a repair may produce."""
    previous = ""
    for ch in text:
        category = unicodedata.category(ch)
        if category in ("Cc", "Co", "Cn") and ch not in "\t\n\r":
            return False
        if category == "Mn" and not previous.isalpha():
            return False
        previous = ch
    return True


def _undo_mac_roman(run: str) -> str | None:
    """A non-ASCII run walked back through Latin-1 → Mac Roman → UTF-8, or None when no round gives clean text."""
    current = run
    for _ in range(MAC_ROMAN_ROUNDS):
        try:
            current = current.encode("latin-1").decode("mac_roman")
        except UnicodeEncodeError:
            return None
        for single_byte in ("latin-1", "cp1252"):  # the first read was Latin-1 or its Windows superset
            try:
                decoded = current.encode(single_byte).decode("utf-8")
            except (UnicodeEncodeError, UnicodeDecodeError):
                continue
            if _clean(decoded) and not any(unicodedata.category(c) == "Mn" for c in decoded):
                return decoded
    return None


def _undo_mac_roman_runs(text: str) -> str:
    return _NON_ASCII_RUN.sub(lambda m: _undo_mac_roman(m.group(0)) or m.group(0), text)


@overload
def repair_text(text: str) -> str: ...
@overload
def repair_text(text: None) -> None: ...
def repair_text(text: str | None) -> str | None:
    """`text` with its encoding repaired (see the module docstring); ASCII and correct text come back unchanged."""
    if not text or text.isascii():
        return text
    import ftfy

    repaired = _undo_mac_roman_runs(text)
    config = ftfy.TextFixerConfig(
        uncurl_quotes=False,
        fix_latin_ligatures=False,
        fix_character_width=False,
        unescape_html=False,
        normalization="NFC",
    )
    fixed = ftfy.fix_text(repaired, config)
    if fixed != repaired and _clean(fixed):
        repaired = fixed
    return repaired
