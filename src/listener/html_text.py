"""Mastodon status HTML → plain text, keeping what matters for matching and reading.

Mastodon sends ``content`` as sanitised HTML: paragraphs, ``<br>``, links whose visible
text is ``@<span>user</span>`` or ``#<span>tag</span>``, and "invisible" spans that
hide the ``https://`` and the tail of long links (the ``ellipsis`` span shows the
middle). The hidden parts are kept: the full URL (``https://www.kpn.com/storing``) is
what a reader follows and what names a brand's domain. Paragraphs become blank lines,
``<br>`` a newline, entities are decoded, and mentions/hashtags keep their ``@``/``#``.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser


class _TextCollector(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "br":
            self.parts.append("\n")
        elif tag == "p" and self.parts:
            self.parts.append("\n\n")

    def handle_data(self, data: str) -> None:
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
