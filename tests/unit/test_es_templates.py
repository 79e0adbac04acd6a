"""The index templates and lifecycle policy in configs/elasticsearch, as setup sends them."""

from __future__ import annotations

from typing import Any

import pytest

from klachtradar.settings import load_settings
from sink.es.templates import (
    IndexNames,
    alerts_template,
    analysis_component,
    lifecycle_policy,
    posts_mapping,
    posts_template,
)

ROOT = load_settings().root


def props() -> dict[str, Any]:
    properties: dict[str, Any] = posts_mapping(ROOT)["properties"]
    return properties


def test_dutch_analyser_stems_removes_stop_words_and_folds_accents() -> None:
    analysis = analysis_component(ROOT)["template"]["settings"]["analysis"]
    analyser = analysis["analyzer"]["klachtradar_dutch"]
    filters = {name: analysis["filter"].get(name, {"type": name}) for name in analyser["filter"]}
    assert {"type": "stemmer", "language": "dutch"} in filters.values()
    assert {"type": "stop", "stopwords": "_dutch_"} in filters.values()
    assert "asciifolding" in analyser["filter"] and "lowercase" in analyser["filter"]
    # stemming needs lower-case, folded tokens: the order matters
    assert analyser["filter"].index("asciifolding") < analyser["filter"].index(
        "klachtradar_dutch_stemmer"
    )


def test_text_fields_use_the_dutch_analyser_with_a_raw_keyword() -> None:
    for name in ("text", "reasons"):
        assert props()[name]["analyzer"] == "klachtradar_dutch"
        assert props()[name]["fields"]["raw"]["type"] == "keyword"


@pytest.mark.parametrize(
    ("path", "kind"),
    [
        ("brand", "keyword"),
        ("brands", "keyword"),
        ("source", "keyword"),
        ("sentiment", "keyword"),
        ("intent", "keyword"),
        ("cues", "keyword"),
        ("priority", "keyword"),
        ("status", "keyword"),
        ("model.version", "keyword"),
        ("risk", "integer"),
        ("author.followers", "long"),
        ("engagement.reposts", "long"),
        ("engagement.total", "long"),
        ("created_at", "date"),
        ("scored_at", "date"),
        ("sentiment_proba.negatief", "float"),
        ("intent_proba.klacht", "float"),
        ("cue_proba.media", "float"),
        ("complaint_probability", "float"),
        ("response_minutes", "float"),
    ],
)
def test_field_types(path: str, kind: str) -> None:
    spec: dict[str, Any] = {"properties": props()}
    for part in path.split("."):
        spec = spec["properties"][part]
    assert spec["type"] == kind


def test_author_is_an_object() -> None:
    assert set(props()["author"]["properties"]) >= {"id", "handle", "followers", "verified"}


def test_lifecycle_is_hot_then_delete_after_the_configured_retention() -> None:
    policy = lifecycle_policy(ROOT, retention_days=30)
    assert list(policy["phases"]) == ["hot", "delete"]
    assert policy["phases"]["delete"] == {"min_age": "30d", "actions": {"delete": {}}}


def test_templates_follow_the_configured_names() -> None:
    names = IndexNames(posts="acme-posts", alerts="acme-alerts")
    posts = posts_template(ROOT, names)
    assert posts["index_patterns"] == ["acme-posts-*"]
    assert posts["template"]["aliases"] == {"acme-posts": {}}
    assert posts["template"]["settings"]["index.lifecycle.name"] == "acme-posts"
    assert posts["template"]["settings"]["index.lifecycle.parse_origination_date"] is True
    assert posts["composed_of"] == ["acme-posts-dutch-analysis"]
    assert alerts_template(ROOT, names)["index_patterns"] == ["acme-alerts"]


def test_loading_twice_gives_independent_copies() -> None:
    names = IndexNames()
    first = posts_template(ROOT, names)
    first["template"]["aliases"]["x"] = {}
    assert "x" not in posts_template(ROOT, names)["template"]["aliases"]
