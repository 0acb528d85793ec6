"""Which font draws a piece of text in the PDFs Helloword makes (labels, customs papers).

The standard PDF fonts cover Windows-1252 only. Chinese, Japanese and Korean text goes to
ReportLab's CID fonts, which need no font file (the viewer supplies the glyphs); other scripts'
letters are folded to their base Latin letter, which postal sorting and customs accept.
"""

from __future__ import annotations

import unicodedata
from functools import cache

from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont

LATIN_ENCODING = "cp1252"
_FOLDS = str.maketrans({"ł": "l", "Ł": "L", "đ": "d", "Đ": "D", "ı": "i", "ħ": "h", "Ħ": "H"})


def font_for(text: str, bold: bool = False) -> tuple[str, str]:
    """The font to draw ``text`` in, and the text as that font can show it."""
    try:
        text.encode(LATIN_ENCODING)
    except UnicodeEncodeError:
        cid_font = _cjk_font(text)
        if cid_font:
            return _registered(cid_font), text
        return latin_font(bold), fold_to_latin(text)
    return latin_font(bold), text


def latin_font(bold: bool) -> str:
    return "Helvetica-Bold" if bold else "Helvetica"


def _cjk_font(text: str) -> str:
    if any(0x3040 <= ord(ch) <= 0x30FF for ch in text):
        return "HeiseiKakuGo-W5"  # Japanese kana
    if any(0xAC00 <= ord(ch) <= 0xD7AF or 0x1100 <= ord(ch) <= 0x11FF for ch in text):
        return "HYGothic-Medium"  # Hangul
    if any(
        0x3400 <= ord(ch) <= 0x9FFF or 0x3000 <= ord(ch) <= 0x303F or 0xFF00 <= ord(ch) <= 0xFFEF
        for ch in text
    ):
        return "STSong-Light"  # Han ideographs, CJK punctuation, full-width forms
    return ""


@cache
def _registered(cid_font: str) -> str:
    # ReportLab keeps fonts in its own process-wide registry; registering once is enough.
    pdfmetrics.registerFont(UnicodeCIDFont(cid_font))
    return cid_font


def fold_to_latin(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text.translate(_FOLDS))
    stripped = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return stripped.encode(LATIN_ENCODING, errors="replace").decode(LATIN_ENCODING)
