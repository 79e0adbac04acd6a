"""The shipped Kibana saved objects: Kibana's NDJSON format, resolvable, and every field exists."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from klachtradar.settings import load_settings
from klachtradar.watchlist import load_watchlist
from sink.es.kibana import ALERTS_VIEW, FILES, POSTS_VIEW, generate, read_ndjson, to_ndjson
from sink.es.templates import IndexNames, posts_mapping

ROOT = load_settings().root
KIBANA = ROOT / "configs" / "kibana"
TYPES = {"index-pattern", "visualization", "search", "dashboard", "lens"}
JSON_STRING_ATTRIBUTES = ("visState", "panelsJSON", "optionsJSON", "uiStateJSON", "fieldFormatMap")


def shipped() -> dict[str, list[dict[str, Any]]]:
    return {name: read_ndjson(KIBANA / name) for name in FILES}


def all_objects() -> list[dict[str, Any]]:
    return [obj for objects in shipped().values() for obj in objects]


def template_fields(mapping: dict[str, Any], prefix: str = "") -> set[str]:
    """Every field path a mapping defines, multi-fields (``text.raw``) included."""
    fields: set[str] = set()
    for name, spec in mapping.get("properties", {}).items():
        path = f"{prefix}{name}"
        fields.add(path)
        fields |= {f"{path}.{sub}" for sub in spec.get("fields", {})}
        fields |= template_fields(spec, f"{path}.")
    return fields


def alerts_fields() -> set[str]:
    body = json.loads((ROOT / "configs/elasticsearch/template-alerts.json").read_text())
    return template_fields(body["template"]["mappings"])


def kql_fields(query: str) -> set[str]:
    """Field names in a KQL query (``field : value``)."""
    return set(re.findall(r"([A-Za-z_][\w.]*)\s*:", query))


def referenced_fields(obj: dict[str, Any]) -> set[str]:
    """Every field an object names: query, columns, sort, aggregation fields, time field."""
    attributes = obj["attributes"]
    fields: set[str] = set()
    meta = attributes.get("kibanaSavedObjectMeta", {}).get("searchSourceJSON")
    if meta:
        fields |= kql_fields(json.loads(meta)["query"]["query"])
    fields |= set(attributes.get("columns", []))
    fields |= {column for column, _ in attributes.get("sort", [])}
    if "visState" in attributes:
        for agg in json.loads(attributes["visState"])["aggs"]:
            if "field" in agg["params"]:
                fields.add(agg["params"]["field"])
            for bucket in agg["params"].get("filters", []):  # a filters agg's KQL buckets
                fields |= kql_fields(bucket["input"]["query"])
    if "timeFieldName" in attributes:
        fields.add(attributes["timeFieldName"])
    fields |= set(json.loads(attributes.get("fieldFormatMap") or "{}"))
    return fields


def view_of(obj: dict[str, Any]) -> str | None:
    if obj["type"] == "index-pattern":
        return str(obj["id"])
    views = [r["id"] for r in obj["references"] if r["type"] == "index-pattern"]
    return views[0] if views else None


def test_shipped_files_are_what_the_generator_makes_from_the_watchlist() -> None:
    brands = load_watchlist(ROOT / "configs" / "brands.toml").names()
    for name, objects in generate(IndexNames(), brands).items():
        assert (KIBANA / name).read_text(encoding="utf-8") == to_ndjson(objects), (
            f"{name} is stale: run `klachtradar kibana export`"
        )


def test_every_line_is_a_kibana_saved_object() -> None:
    objects = all_objects()
    assert len({(o["type"], o["id"]) for o in objects}) == len(objects)
    for obj in objects:
        assert obj["type"] in TYPES
        assert isinstance(obj["id"], str) and obj["id"]
        assert isinstance(obj["attributes"]["title"], str) and obj["attributes"]["title"]
        assert obj["coreMigrationVersion"].startswith("8.")
        assert re.fullmatch(r"\d+\.\d+\.\d+", obj["typeMigrationVersion"])
        for ref in obj["references"]:
            assert set(ref) == {"name", "type", "id"}
        for key in JSON_STRING_ATTRIBUTES:
            if key in obj["attributes"]:
                json.loads(obj["attributes"][key])
        meta = obj["attributes"].get("kibanaSavedObjectMeta")
        if meta:
            source = json.loads(meta["searchSourceJSON"])
            assert source["query"]["language"] == "kuery"
            if "indexRefName" in source:
                assert source["indexRefName"] in {r["name"] for r in obj["references"]}


def test_references_resolve_in_import_order() -> None:
    known: set[tuple[str, str]] = set()
    for name in FILES:
        objects = read_ndjson(KIBANA / name)
        known |= {(o["type"], o["id"]) for o in objects}
        for obj in objects:
            for ref in obj["references"]:
                assert (ref["type"], ref["id"]) in known, f"{name}: {obj['id']} → {ref}"


def dashboard_panels(title: str) -> list[dict[str, Any]]:
    """The objects a dashboard shows, in its panel order; its grid checked on the way."""
    (dashboard,) = [
        o for o in all_objects() if o["type"] == "dashboard" and o["attributes"]["title"] == title
    ]
    panels = json.loads(dashboard["attributes"]["panelsJSON"])
    refs = {r["name"]: r for r in dashboard["references"]}
    assert {p["panelRefName"] for p in panels} == set(refs)
    for panel in panels:
        grid = panel["gridData"]
        assert grid["x"] + grid["w"] <= 48  # Kibana's dashboard grid is 48 columns wide
    by_id = {o["id"]: o for o in all_objects()}
    return [by_id[refs[p["panelRefName"]]["id"]] for p in panels]


def test_the_dashboards_are_webcare_overzicht_and_publieke_merkreacties() -> None:
    titles = sorted(o["attributes"]["title"] for o in all_objects() if o["type"] == "dashboard")
    assert titles == ["Publieke merkreacties", "Webcare overzicht"]


def test_dashboard_has_the_five_webcare_panels() -> None:
    titles = [o["attributes"]["title"] for o in dashboard_panels("Webcare overzicht")]
    assert titles == [
        "Klachten per merk over tijd",
        "Sentimentverdeling",
        "Open klachten met het hoogste risico",
        "Incidenten",
        "Reactietijden per merk (minuten tot eerste reactie)",
    ]


def _vis(obj: dict[str, Any]) -> tuple[str, list[dict[str, Any]], str]:
    """(vis type, aggregations, KQL query) of a visualization."""
    state = json.loads(obj["attributes"]["visState"])
    query = json.loads(obj["attributes"]["kibanaSavedObjectMeta"]["searchSourceJSON"])["query"]
    return state["type"], state["aggs"], query["query"]


def test_publieke_merkreacties_answers_the_issues_four_questions() -> None:
    rate, tone, first, rude = dashboard_panels("Publieke merkreacties")
    assert [o["attributes"]["title"] for o in (rate, tone, first, rude)] == [
        "Publieke responsratio per merk",
        "Merkreacties per toon per merk",
        "Eerste publieke reactie per merk (mediaan en p90, minuten)",
        "Grove merkreacties",
    ]
    _, aggs, query = _vis(rate)  # complaints per brand, answered in public or not, 100 %
    assert query == "intent : klacht"
    assert [a["params"].get("field") for a in aggs if a["type"] == "terms"] == ["brand"]
    (split,) = [a for a in aggs if a["type"] == "filters"]
    assert [f["input"]["query"] for f in split["params"]["filters"]] == [
        "first_response_minutes : *",
        "not first_response_minutes : *",
    ]
    state = json.loads(rate["attributes"]["visState"])
    assert state["params"]["valueAxes"][0]["scale"]["mode"] == "percentage"
    _, aggs, query = _vis(first)  # median and p90 per brand over time
    (metric,) = [a for a in aggs if a["schema"] == "metric"]
    assert metric["type"] == "percentiles" and metric["params"]["percents"] == [50, 90]
    assert metric["params"]["field"] == "first_response_minutes"
    assert {a["params"].get("field") for a in aggs} >= {"created_at", "brand"}
    _, aggs, _ = _vis(tone)  # brand replies chart by reply_brand: they have no brand
    assert [a["params"]["field"] for a in aggs if a["type"] == "terms"] == ["reply_brand", "tone"]
    assert rude["type"] == "search"
    source = json.loads(rude["attributes"]["kibanaSavedObjectMeta"]["searchSourceJSON"])
    assert source["query"]["query"] == "tone : grof"
    assert "tone_reasons" in rude["attributes"]["columns"]


def test_field_check_reads_the_queries_of_a_filters_aggregation() -> None:
    vis = {
        "attributes": {
            "visState": json.dumps(
                {
                    "aggs": [
                        {
                            "type": "filters",
                            "params": {
                                "filters": [{"input": {"query": "first_respons_minutes : *"}}]
                            },
                        }
                    ]
                }
            )
        }
    }
    assert referenced_fields(vis) == {"first_respons_minutes"}


def test_one_saved_search_per_watchlist_brand() -> None:
    brands = load_watchlist(ROOT / "configs" / "brands.toml").names()
    searches = {o["attributes"]["title"] for o in shipped()[FILES[2]] if o["type"] == "search"}
    assert searches == {f"Merk: {b}" for b in brands}


@pytest.mark.parametrize("obj", all_objects(), ids=lambda o: o["id"])
def test_every_referenced_field_exists_in_the_index_template(obj: dict[str, Any]) -> None:
    view = view_of(obj)
    if view is None:
        return  # the dashboard itself names no field
    known = template_fields(posts_mapping(ROOT)) if view == POSTS_VIEW else alerts_fields()
    assert view in (POSTS_VIEW, ALERTS_VIEW)
    missing = referenced_fields(obj) - known
    assert not missing, f"{obj['id']} references unmapped fields {missing}"


def test_field_extraction_notices_an_unknown_field() -> None:
    assert kql_fields('status : open and brandz : "KPN"') == {"status", "brandz"}


def test_read_ndjson_names_the_bad_line(tmp_path: Path) -> None:
    from klachtradar.errors import ConfigError

    bad = tmp_path / "bad.ndjson"
    bad.write_text('{"type": "search"}\n{not json\n', encoding="utf-8")
    with pytest.raises(ConfigError, match=r"bad\.ndjson:2"):
        read_ndjson(bad)
