"""Text clean-up shared by the learned backends, so training and serving agree.

Social posts carry noise that only hurts a model trained on 1,200 examples: URLs,
the handles of whoever was tagged, control characters, and the odd 10,000-character
paste. Handles become ``@user`` (the brand is known from the watchlist; which one was
tagged must not decide sentiment), URLs become ``URL``, and the text is cut to the
first :data:`MAX_CHARS` characters.
"""

from __future__ import annotations

import re
import unicodedata

MAX_CHARS = 1_000
"""A post is judged on its first thousand characters: enough for any real post."""

_URL = re.compile(r"https?://\S+|www\.\S+", re.IGNORECASE)
_HANDLE = re.compile(r"@\w+")
_DIGITS = re.compile(r"\d+")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b\u2028\u2029]")
_SPACE = re.compile(r"\s+")


def normalise(text: str) -> str:
    """Lower-cased, URL/handle/number placeholders, no control characters, bounded length.

    Each substitution runs only when its cheap precondition holds (a non-printable
    character, ``://`` or ``www.``, an ``@``): most posts need only two of the five,
    and this runs on every post the ``linear`` backend sees.

    >>> normalise("@KPN al 3 dagen STORING https://t.co/x")
    '@user al 0 dagen storing url'
    """
    text = unicodedata.normalize("NFC", text[: MAX_CHARS * 2])
    if not text.isprintable():  # every character _CONTROL matches is non-printable
        text = _CONTROL.sub(" ", text)
    if "://" in text or "www." in text.lower():
        text = _URL.sub(" URL ", text)
    if "@" in text:
        text = _HANDLE.sub("@user", text)
    text = _DIGITS.sub("0", text)
    return " ".join(text.split()).lower()[:MAX_CHARS]


def strip_noise(text: str) -> str:
    """Placeholders and bounds as :func:`normalise`, but case and digits kept.

    For encoders with their own cased sub-word tokenizer (e5, BERT), which read
    "ALWEER" and "3 dagen" better than a lower-cased, digit-masked text.
    """
    text = unicodedata.normalize("NFC", text[: MAX_CHARS * 2])
    text = _CONTROL.sub(" ", text)
    text = _URL.sub(" URL ", text)
    text = _HANDLE.sub("@user", text)
    return _SPACE.sub(" ", text).strip()[:MAX_CHARS]
