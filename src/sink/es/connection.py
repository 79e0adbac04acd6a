"""An Elasticsearch client built from settings: URL, API key or basic auth, TLS CA file.

The client's own retries are switched off (``max_retries=0``): the bulk writer owns
the retry policy (exponential backoff on 429, 5xx and connection errors), so a
failure is retried in one place and counted once. Nothing secret is ever logged;
:func:`describe` gives the safe one-line form for logs and CLI output.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

from klachtradar.errors import ConfigError
from klachtradar.settings import ElasticsearchSettings, Settings

if TYPE_CHECKING:
    from elasticsearch import Elasticsearch


def redact_url(url: str) -> str:
    """The URL without a ``user:password@`` part.

    >>> redact_url("https://elastic:s3cret@es.example:9200/")
    'https://***@es.example:9200/'
    """
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    host = parts.netloc.rsplit("@", 1)[1]
    return urlunsplit(parts._replace(netloc=f"***@{host}"))


def describe(es: ElasticsearchSettings) -> str:
    """A log-safe description: URL without credentials, and which auth is used."""
    auth = "api key" if es.api_key.get_secret_value() else "basic" if es.username else "none"
    tls = f", CA {es.ca_file}" if es.ca_file else ""
    return f"{redact_url(es.url)} (auth: {auth}{tls})"


def client_options(settings: Settings) -> dict[str, Any]:
    """Keyword arguments for :class:`elasticsearch.Elasticsearch` (secrets included)."""
    es = settings.elasticsearch
    if not es.url:
        raise ConfigError("no Elasticsearch URL: set [elasticsearch] url or --url")
    options: dict[str, Any] = {
        "hosts": [es.url],
        "request_timeout": es.request_timeout_s,
        "max_retries": 0,
        "retry_on_timeout": False,
    }
    api_key = es.api_key.get_secret_value()
    if api_key:
        options["api_key"] = api_key
    elif es.username:
        options["basic_auth"] = (es.username, es.password.get_secret_value())
    if es.ca_file:
        ca = settings.resolve(Path(es.ca_file))
        if not ca.is_file():
            raise ConfigError(f"[elasticsearch] ca_file {ca}: no such file")
        options["ca_certs"] = str(ca)
    if not es.verify_certs:
        options["verify_certs"] = False
    return options


def make_client(settings: Settings) -> Elasticsearch:
    """A client for the configured cluster (imports the ``es`` extra lazily)."""
    try:
        from elasticsearch import Elasticsearch
    except ImportError as exc:  # pragma: no cover - depends on the installed extras
        raise ConfigError("Elasticsearch support needs: pip install 'klachtradar[es]'") from exc
    return Elasticsearch(**client_options(settings))
