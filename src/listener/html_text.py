"""Mastodon status HTML → plain text, keeping what matters for matching and reading.

Mastodon sends ``content`` as sanitised HTML: paragraphs, ``<br>``, links whose visible
text is ``@<span>user</span>`` or ``#<span>tag</span>``, and "invisible" spans that
hide the ``https://`` part of long links. Paragraphs become blank lines, ``<br>`` a
newline, entities are decoded, and mentions/hashtags keep their ``@``/``#``.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser


class _TextCollector(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._hidden = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        classes = (dict(attrs).get("class") or "").split()
        if tag == "span" and (self._hidden or "invisible" in classes):
            self._hidden += 1
        elif tag == "br":
            self.parts.append("\n")
        elif tag == "p" and self.parts:
            self.parts.append("\n\n")

    def handle_endtag(self, tag: str) -> None:
        if tag == "span" and self._hidden:
            self._hidden -= 1

    def handle_data(self, data: str) -> None:
        if not self._hidden:
            self.parts.append(data)


_SPACES = re.compile(r"[ \t]+")
_BLANKS = re.compile(r"\n{3,}")


def html_to_text(html: str) -> str:
    """Plain text of a status ``content``.

    >>> html_to_text('<p>Hoi <span class="h-card"><a href="x">@<span>kpn</span></a></span>'
    ...              ' &amp; co</p><p>regel<br>twee</p>')
    'Hoi @kpn & co\\n\\nregel\\ntwee'
    """
    collector = _TextCollector()
    collector.feed(html)
    collector.close()
    text = _SPACES.sub(" ", "".join(collector.parts))
    return _BLANKS.sub("\n\n", text).strip()
