"""Kibana 8 saved objects for reputation managers, and their import through Kibana's API.

The objects are generated here from the index names and the brand watchlist, written to
``configs/kibana/*.ndjson`` (``klachtradar kibana export``) and shipped; a test keeps the
shipped files equal to what this module generates. ``klachtradar kibana setup`` posts
each file to ``POST /api/saved_objects/_import?overwrite=true``, data views first,
because an import only succeeds when every reference resolves.

What ships:

* data views ``klachtradar-posts-*`` and ``klachtradar-alerts`` (time field ``created_at``);
* dashboard "Webcare overzicht": complaints per brand over time, sentiment share,
  top-risk open complaints, incidents, response times;
* a saved search per watchlist brand ("Merk: KPN" …);
* dashboard "Publieke merkreacties" (issue 17): the public response rate per brand,
  median and p90 minutes to the first public reply per brand over time, the brands'
  replies by tone, and the rude (``grof``) replies as a saved search. Complaints chart
  by ``brand``; brand replies have no ``brand`` (they are no mention) and chart by
  ``reply_brand``.

Visualisations are aggregation-based (``visState``), the format every Kibana 8 release
imports and renders; the dashboard uses the 7.x panel-reference form with an older
``typeMigrationVersion``, so Kibana migrates it to whatever its release stores.
"""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib import error, request
from urllib.parse import urlencode

from klachtradar.errors import ConfigError, SinkError
from sink.es.connection import redact_url
from sink.es.templates import IndexNames

CORE_MIGRATION = "8.8.0"
POSTS_VIEW = "klachtradar-posts"
ALERTS_VIEW = "klachtradar-alerts"
DASHBOARD_ID = "klachtradar-webcare-overzicht"
REPLIES_DASHBOARD_ID = "klachtradar-publieke-merkreacties"
INDEX_REF = "kibanaSavedObjectMeta.searchSourceJSON.index"

FILES = (
    "10-data-views.ndjson",
    "20-webcare-overzicht.ndjson",
    "30-merken.ndjson",
    "40-publieke-merkreacties.ndjson",
)
"""Shipped files, in import order."""


def _search_source(query: str, *, index_ref: bool = True, **extra: Any) -> dict[str, Any]:
    source: dict[str, Any] = {"query": {"query": query, "language": "kuery"}, "filter": []}
    if index_ref:
        source["indexRefName"] = INDEX_REF
    source.update(extra)
    return {"searchSourceJSON": json.dumps(source, ensure_ascii=False)}


def _index_reference(view_id: str) -> list[dict[str, str]]:
    return [{"name": INDEX_REF, "type": "index-pattern", "id": view_id}]


def _object(
    kind: str,
    object_id: str,
    attributes: dict[str, Any],
    references: list[dict[str, str]],
    type_migration: str,
) -> dict[str, Any]:
    return {
        "type": kind,
        "id": object_id,
        "attributes": attributes,
        "references": references,
        "coreMigrationVersion": CORE_MIGRATION,
        "typeMigrationVersion": type_migration,
        "managed": False,
    }


def data_views(names: IndexNames) -> list[dict[str, Any]]:
    """The posts data view (all weekly indices) and the alerts data view."""
    return [
        _object(
            "index-pattern",
            POSTS_VIEW,
            {
                "title": names.posts_pattern,
                "name": "klachtradar posts",
                "timeFieldName": "created_at",
                "fieldFormatMap": json.dumps(
                    {
                        field: {"id": "number", "params": {"pattern": "0,0.0"}}
                        for field in ("response_minutes", "first_response_minutes")
                    }
                ),
            },
            [],
            "8.0.0",
        ),
        _object(
            "index-pattern",
            ALERTS_VIEW,
            {"title": names.alerts, "name": "klachtradar alerts", "timeFieldName": "created_at"},
            [],
            "8.0.0",
        ),
    ]


def _visualization(
    object_id: str, title: str, vis_type: str, aggs: list[dict[str, Any]], query: str, **params: Any
) -> dict[str, Any]:
    vis_state = {"title": title, "type": vis_type, "aggs": aggs, "params": params}
    return _object(
        "visualization",
        object_id,
        {
            "title": title,
            "description": "",
            "uiStateJSON": "{}",
            "version": 1,
            "visState": json.dumps(vis_state, ensure_ascii=False),
            "kibanaSavedObjectMeta": _search_source(query),
        },
        _index_reference(POSTS_VIEW),
        "8.5.0",
    )


def _count(agg_id: str = "1") -> dict[str, Any]:
    return {"id": agg_id, "enabled": True, "type": "count", "schema": "metric", "params": {}}


def _terms(agg_id: str, field: str, schema: str, size: int = 10) -> dict[str, Any]:
    return {
        "id": agg_id,
        "enabled": True,
        "type": "terms",
        "schema": schema,
        "params": {"field": field, "size": size, "order": "desc", "orderBy": "1"},
    }


def _saved_search(
    object_id: str,
    title: str,
    query: str,
    columns: list[str],
    sort: list[list[str]],
    view_id: str = POSTS_VIEW,
) -> dict[str, Any]:
    return _object(
        "search",
        object_id,
        {
            "title": title,
            "description": "",
            "columns": columns,
            "sort": sort,
            "kibanaSavedObjectMeta": _search_source(query),
        },
        _index_reference(view_id),
        "8.0.0",
    )


TRIAGE_COLUMNS = ["priority", "risk", "brand", "author.handle", "author.followers", "text"]


def dashboard_objects() -> list[dict[str, Any]]:
    """The five panels and the "Webcare overzicht" dashboard that lays them out."""
    panels = [
        _visualization(
            "klachtradar-klachten-per-merk",
            "Klachten per merk over tijd",
            "histogram",
            [
                _count(),
                {
                    "id": "2",
                    "enabled": True,
                    "type": "date_histogram",
                    "schema": "segment",
                    "params": {"field": "created_at", "interval": "auto", "min_doc_count": 1},
                },
                _terms("3", "brand", "group"),
            ],
            "intent : klacht",
            type="histogram",
            addLegend=True,
            legendPosition="right",
        ),
        _visualization(
            "klachtradar-sentiment",
            "Sentimentverdeling",
            "pie",
            [_count(), _terms("2", "sentiment", "segment", size=3)],
            "classified : true",
            type="pie",
            isDonut=True,
            addLegend=True,
        ),
        _saved_search(
            "klachtradar-open-klachten-top-risico",
            "Open klachten met het hoogste risico",
            "status : open and intent : klacht",
            [*TRIAGE_COLUMNS, "reasons"],
            [["priority", "asc"], ["risk", "desc"]],
        ),
        _saved_search(
            "klachtradar-incidenten",
            "Incidenten",
            "kind : incident",
            ["brand", "title", "post_count", "top_terms", "examples"],
            [["created_at", "desc"]],
            view_id=ALERTS_VIEW,
        ),
        _visualization(
            "klachtradar-reactietijden",
            "Reactietijden per merk (minuten tot eerste reactie)",
            "table",
            [
                {
                    "id": "1",
                    "enabled": True,
                    "type": "avg",
                    "schema": "metric",
                    "params": {"field": "response_minutes"},
                },
                {
                    "id": "2",
                    "enabled": True,
                    "type": "max",
                    "schema": "metric",
                    "params": {"field": "response_minutes"},
                },
                {**_count("3")},
                _terms("4", "brand", "bucket", size=25),
            ],
            "response_minutes : *",
            perPage=25,
            showTotal=False,
        ),
    ]
    layout = [(0, 0, 48, 15), (0, 15, 16, 15), (16, 15, 32, 15), (0, 30, 24, 15), (24, 30, 24, 15)]
    dashboard = _dashboard(
        DASHBOARD_ID,
        "Webcare overzicht",
        "Klachten, sentiment, risico, incidenten en reactietijden per merk.",
        panels,
        layout,
    )
    return [*panels, dashboard]


def _filters(agg_id: str, schema: str, queries: Sequence[tuple[str, str]]) -> dict[str, Any]:
    """A filters bucket: one bucket per (label, KQL query)."""
    filters = [{"input": {"query": q, "language": "kuery"}, "label": label} for label, q in queries]
    return {
        "id": agg_id,
        "enabled": True,
        "type": "filters",
        "schema": schema,
        "params": {"filters": filters},
    }


def _over_time(agg_id: str) -> dict[str, Any]:
    return {
        "id": agg_id,
        "enabled": True,
        "type": "date_histogram",
        "schema": "segment",
        "params": {"field": "created_at", "interval": "auto", "min_doc_count": 1},
    }


def _response_rate_panel() -> dict[str, Any]:
    """Complaints per brand split into answered in public or not, as 100 % stacked bars:
    the answered share of each bar is the brand's public response rate."""
    return _visualization(
        "klachtradar-publieke-responsratio",
        "Publieke responsratio per merk",
        "histogram",
        [
            _count(),
            _terms("2", "brand", "segment", size=25),
            _filters(
                "3",
                "group",
                [
                    ("publiek beantwoord", "first_response_minutes : *"),
                    ("niet publiek beantwoord", "not first_response_minutes : *"),
                ],
            ),
        ],
        "intent : klacht",
        type="histogram",
        addLegend=True,
        legendPosition="right",
        seriesParams=[{"data": {"id": "1", "label": "klachten"}, "mode": "stacked"}],
        valueAxes=[
            {
                "id": "ValueAxis-1",
                "name": "LeftAxis-1",
                "type": "value",
                "position": "left",
                "show": True,
                "scale": {"type": "linear", "mode": "percentage"},
                "title": {"text": "aandeel klachten"},
            }
        ],
    )


def _first_response_panel() -> dict[str, Any]:
    """Median and p90 minutes from a complaint to the brand's first public reply, per
    brand over time (by the complaint's ``created_at``)."""
    return _visualization(
        "klachtradar-eerste-publieke-reactie",
        "Eerste publieke reactie per merk (mediaan en p90, minuten)",
        "line",
        [
            {
                "id": "1",
                "enabled": True,
                "type": "percentiles",
                "schema": "metric",
                "params": {"field": "first_response_minutes", "percents": [50, 90]},
            },
            _over_time("2"),
            _terms("3", "brand", "group", size=10),
        ],
        "first_response_minutes : *",
        type="line",
        addLegend=True,
        legendPosition="right",
    )


def _tone_panel() -> dict[str, Any]:
    """The brands' own replies per brand, stacked by tone (professioneel, kortaf, grof)."""
    return _visualization(
        "klachtradar-merkreacties-per-toon",
        "Merkreacties per toon per merk",
        "histogram",
        [_count(), _terms("2", "reply_brand", "segment", size=25), _terms("3", "tone", "group", 3)],
        "is_brand_reply : true and tone : *",
        type="histogram",
        addLegend=True,
        legendPosition="right",
    )


def public_replies_objects() -> list[dict[str, Any]]:
    """The "Publieke merkreacties" panels and their dashboard (issue 17)."""
    panels = [
        _response_rate_panel(),
        _tone_panel(),
        _first_response_panel(),
        _saved_search(
            "klachtradar-grove-merkreacties",
            "Grove merkreacties",
            "tone : grof",
            [
                "reply_brand",
                "author.handle",
                "text",
                "tone_reasons",
                "in_reply_to",
                "reply_minutes",
            ],
            [["created_at", "desc"]],
        ),
    ]
    layout = [(0, 0, 24, 15), (24, 0, 24, 15), (0, 15, 48, 15), (0, 30, 48, 15)]
    dashboard = _dashboard(
        REPLIES_DASHBOARD_ID,
        "Publieke merkreacties",
        "Hoe snel en hoe merken in het openbaar op klachten reageren: responsratio, "
        "eerste reactietijd, toon, en de grove reacties.",
        panels,
        layout,
    )
    return [*panels, dashboard]


def _dashboard(
    object_id: str,
    title: str,
    description: str,
    panels: Sequence[dict[str, Any]],
    layout: Sequence[tuple[int, int, int, int]],
) -> dict[str, Any]:
    """A dashboard laying ``panels`` out on Kibana's 48-column grid as (x, y, w, h)."""
    panels_json = []
    references = []
    for number, (panel, (x, y, w, h)) in enumerate(zip(panels, layout, strict=True)):
        index = str(number + 1)
        panels_json.append(
            {
                "version": "7.9.3",
                "type": panel["type"],
                "gridData": {"x": x, "y": y, "w": w, "h": h, "i": index},
                "panelIndex": index,
                "embeddableConfig": {},
                "panelRefName": f"panel_{number}",
            }
        )
        references.append({"name": f"panel_{number}", "type": panel["type"], "id": panel["id"]})
    return _object(
        "dashboard",
        object_id,
        {
            "title": title,
            "description": description,
            "panelsJSON": json.dumps(panels_json),
            "optionsJSON": json.dumps({"useMargins": True, "hidePanelTitles": False}),
            "timeRestore": True,
            "timeFrom": "now-7d",
            "timeTo": "now",
            "refreshInterval": {"pause": False, "value": 60000},
            "version": 1,
            "kibanaSavedObjectMeta": _search_source("", index_ref=False),
        },
        references,
        "7.9.3",
    )


def brand_searches(brands: Iterable[str]) -> list[dict[str, Any]]:
    """One saved search per brand: its posts, riskiest first. Ids are stable per name."""
    return [
        _saved_search(
            f"klachtradar-merk-{uuid.uuid5(uuid.NAMESPACE_URL, 'klachtradar:' + brand)}",
            f"Merk: {brand}",
            f'brands : "{brand}"',
            [*TRIAGE_COLUMNS, "sentiment", "intent", "status"],
            [["priority", "asc"], ["risk", "desc"]],
        )
        for brand in brands
    ]


def generate(names: IndexNames, brands: Sequence[str]) -> dict[str, list[dict[str, Any]]]:
    """Every shipped file's objects, keyed by file name, in import order."""
    return {
        FILES[0]: data_views(names),
        FILES[1]: dashboard_objects(),
        FILES[2]: brand_searches(brands),
        FILES[3]: public_replies_objects(),
    }


def to_ndjson(objects: Sequence[dict[str, Any]]) -> str:
    """Kibana's export format: one object per line, sorted keys for stable diffs."""
    return "".join(json.dumps(o, ensure_ascii=False, sort_keys=True) + "\n" for o in objects)


def read_ndjson(path: Path) -> list[dict[str, Any]]:
    """Objects of one file; a malformed line raises :class:`ConfigError` naming it."""
    objects = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            objects.append(json.loads(line))
        except ValueError as exc:
            raise ConfigError(f"{path}:{number}: not JSON ({exc})") from exc
    return objects


@dataclass(frozen=True, slots=True)
class ImportResult:
    """Kibana's answer for one file."""

    file: str
    success: bool
    count: int
    errors: list[dict[str, Any]]


def _multipart(filename: str, content: bytes) -> tuple[bytes, str]:
    boundary = f"klachtradar-{uuid.uuid4().hex}"
    head = (
        f"--{boundary}\r\n"
        f'Content-Disposition: form-data; name="file"; filename="{filename}"\r\n'
        "Content-Type: application/ndjson\r\n\r\n"
    ).encode()
    return head + content + f"\r\n--{boundary}--\r\n".encode(), boundary


def auth_header(*, api_key: str = "", username: str = "", password: str = "") -> dict[str, str]:
    """The Authorization header Kibana accepts: ``ApiKey …`` or ``Basic …`` (or none)."""
    if api_key:
        return {"Authorization": f"ApiKey {api_key}"}
    if username:
        token = base64.b64encode(f"{username}:{password}".encode()).decode()
        return {"Authorization": f"Basic {token}"}
    return {}


def import_file(
    kibana_url: str,
    path: Path,
    *,
    headers: dict[str, str] | None = None,
    space: str | None = None,
    timeout_s: float = 30.0,
    ca_file: str | None = None,
) -> ImportResult:
    """POST one NDJSON file to the saved-objects import API, overwriting older versions."""
    import ssl

    base = kibana_url.rstrip("/") + (f"/s/{space}" if space else "")
    url = f"{base}/api/saved_objects/_import?{urlencode({'overwrite': 'true'})}"
    body, boundary = _multipart(path.name, path.read_bytes())
    req = request.Request(url, data=body, method="POST")
    req.add_header("kbn-xsrf", "klachtradar")
    req.add_header("Content-Type", f"multipart/form-data; boundary={boundary}")
    for name, value in (headers or {}).items():
        req.add_header(name, value)
    context = ssl.create_default_context(cafile=ca_file) if ca_file else None
    try:
        with request.urlopen(req, timeout=timeout_s, context=context) as response:
            answer = json.loads(response.read() or b"{}")
    except error.HTTPError as exc:
        detail = exc.read().decode("utf-8", errors="replace")[:300]
        raise SinkError(
            f"Kibana {redact_url(kibana_url)} refused {path.name}: HTTP {exc.code} {detail}",
            retryable=exc.code >= 500,
        ) from exc
    except (OSError, ValueError) as exc:
        raise SinkError(
            f"Kibana {redact_url(kibana_url)} unreachable: {exc}", retryable=True
        ) from exc
    return ImportResult(
        path.name,
        bool(answer.get("success")),
        int(answer.get("successCount", 0)),
        list(answer.get("errors") or []),
    )
