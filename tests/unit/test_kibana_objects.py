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


def test_dashboard_has_the_five_webcare_panels() -> None:
    (dashboard,) = [o for o in all_objects() if o["type"] == "dashboard"]
    assert dashboard["attributes"]["title"] == "Webcare overzicht"
    panels = json.loads(dashboard["attributes"]["panelsJSON"])
    refs = {r["name"]: r for r in dashboard["references"]}
    assert {p["panelRefName"] for p in panels} == set(refs)
    by_id = {o["id"]: o for o in all_objects()}
    titles = [by_id[refs[p["panelRefName"]]["id"]]["attributes"]["title"] for p in panels]
    assert titles == [
        "Klachten per merk over tijd",
        "Sentimentverdeling",
        "Open klachten met het hoogste risico",
        "Incidenten",
        "Reactietijden per merk (minuten tot eerste reactie)",
    ]
    for panel in panels:
        grid = panel["gridData"]
        assert grid["x"] + grid["w"] <= 48  # Kibana's dashboard grid is 48 columns wide


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
