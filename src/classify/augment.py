"""Training-data augmentation: each post again as plain text.

Our hand-written corpus carries its sentiment in emoji, @-handles, hashtags and "!!!";
real Dutch text (reviews, e-mails, news, most tweets) mostly does not. A model fitted on
the corpus alone leans on those marks and is near chance where they are missing. So the
``linear`` backend also trains on a plain copy of every post — marks removed, lower
case — with the same labels: the words have to carry the verdict too. Dev and test
data are never augmented (they measure, they do not teach).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Sequence

from classify.corpus import LabelledPost

_EMOJI = re.compile("[\U0001f000-\U0001faff\u2600-\u27bf\ufe0f\u200d]")
_MARKS = re.compile(r"[@#]\w+")
_REPEATS = re.compile(r"([!?])[!?]+")
_SPACE = re.compile(r"\s+")


def plain_text(text: str) -> str:
    """``text`` without emoji, handles, hashtags and repeated !/?, in lower case.

    >>> plain_text("@KPN al 3 dagen geen internet!!! 😡 #storing")
    'al 3 dagen geen internet!'
    """
    stripped = _REPEATS.sub(r"\1", _MARKS.sub(" ", _EMOJI.sub(" ", text)))
    return _SPACE.sub(" ", stripped).strip().lower()


def with_plain_copies(records: Sequence[LabelledPost]) -> list[LabelledPost]:
    """``records`` plus a plain copy (id ``…~plain``) of each one whose text changes."""
    copies = []
    for record in records:
        plain = plain_text(record.text)
        if plain and plain != record.text:
            copies.append(dataclasses.replace(record, id=f"{record.id}~plain", text=plain))
    return [*records, *copies]
