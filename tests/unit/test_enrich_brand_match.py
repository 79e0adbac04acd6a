"""Brand matching: what must match, what must not, on both tokenizer backends."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from enrich.brand_match import BrandMatcher, alias_variants
from klachtradar.contract import Author, RawPost

ROOT = Path(__file__).resolve().parents[2]
WATCHLIST = ROOT / "configs" / "brands.toml"

BACKENDS = ["regex", pytest.param("spacy", marks=pytest.mark.slow)]

# (text, expected brands in order of first mention)
POSITIVE: list[tuple[str, list[str]]] = [
    ("@KPNwebcare mijn glasvezel ligt er al 3 dagen uit", ["KPN"]),
    ("Weer geen internet #kpnstoring", ["KPN"]),
    ("#kpnstoring, alweer. Thuiswerken gaat zo niet", ["KPN"]),
    ("Sinds de overstap naar t-mobile geen bereik meer", ["Odido"]),
    ("T Mobile heet nu Odido en het bereik is nog steeds slecht", ["Odido"]),
    ("tmobile/odido/hoe ze ook heten: geen bereik in Maastricht", ["Odido"]),
    ("T-Mobile NL rekent me twee keer af", ["Odido"]),
    ("Beste @TMobile_NL, of hoe jullie tegenwoordig ook heten", ["Odido"]),
    ("KPN-storing in heel Rotterdam, niks doet het", ["KPN"]),
    ("Sinds het draadje stromen de mails binnen van Odido-klanten", ["Odido"]),
    ("40 minuten wachttijd bij de ING klantenservice", ["ING"]),
    ("pinnen bij de ing lukt weer niet, storing?", ["ING"]),
    ("de ing app doet het weer niet", ["ING"]),
    ("Wij staan met de ING-tent bij de finish", ["ING"]),
    ("NS 40 minuten vertraging bij Utrecht", ["NS"]),
    ("zit in de ns naar groningen, nog 2 uur", ["NS"]),
    ("ns trein valt weer uit, perron vol", ["NS"]),
    ("Bestellen via bol blijft toch makkelijk", ["bol"]),
    ("bol.com levert weer op zondag", ["bol"]),
    ("Jumbo kassa's dicht, rij tot achterin de winkel", ["Jumbo"]),
    ("jumbo bezorgd om 21:58 terwijl het slot tot 21:00 was", ["Jumbo"]),
    ("Jumbo-bezorger met zware kratten 4 hoog op", ["Jumbo"]),
    ("Essent stuurt een jaarafrekening van €900", ["Essent"]),
    ("Ziggo ligt eruit in Utrecht, tv en wifi weg", ["Ziggo"]),
    ("Na het concert in de Ziggo Dome had ik thuis geen Ziggo internet", ["Ziggo"]),
    ("Overstappen van Vattenfall naar Eneco, moet ik zelf opzeggen?", ["Vattenfall", "Eneco"]),
    ("@PostNL pakket kwijt, en @DHLParcel_NL weet ook van niks", ["PostNL", "DHL"]),
    ("ING, Rabobank en ABN AMRO werken samen", ["ING", "Rabobank", "ABN AMRO"]),
    ("AH bonus klopt niet aan de kassa", ["Albert Heijn"]),
    ("Mijn KLM vlucht naar Wenen gemist door de NS", ["KLM", "NS"]),
    ("thuisbezorgd 70 minuten te laat, pizza koud", ["Thuisbezorgd"]),
    ("Blauwe envelop van de Belastingdienst, weer fout", ["Belastingdienst"]),
]

NEGATIVE: list[str] = [
    "De vergadering liep weer uit, ik ben kapot",
    "Lange vergadering, daarna nog een training",
    "Een jumbo-jet vloog laag over Schiphol",
    "Er vloog een jumbo jet over ons huis",
    "Koop nu Jumbo pakken luiers met korting",
    "Het is essentieel dat je op tijd betaalt",
    "Essentiële informatie staat in de bijlage",
    "Gisteren naar de Ziggo Dome voor een concert",
    "Kaartjes voor #ziggodome zijn uitverkocht",
    "Mijn kat heet Jumbo omdat hij 8 kilo weegt",
    "Naar de tentoonstelling over Ferdinand Bol geweest",
    "een bol wol en een breinaald",
    "ah joh, dat geeft niks",
    "de ns van de zin is onduidelijk",
    "medicijnen worden door de apotheek thuisbezorgd",
    "T-Mobile US schrapt opnieuw honderden banen",
    "kijk op https://www.kpn.com/storing voor info",
    "mail naar klacht@postnl.nl helpt niks",
    "ingang aan de achterkant, bel maar aan",
    "Rijdende kpnwagen? nee, gewoon een busje",
    "Wij zoeken medewerkers, goede toeslagen en een leaseauto",
    "IK HEB HET HELEMAAL GEHAD MET DIE NS ZEG echt waar",
]


@pytest.fixture(scope="module", params=BACKENDS)
def matcher(request: pytest.FixtureRequest) -> BrandMatcher:
    if request.param == "spacy":
        pytest.importorskip("spacy")
    return BrandMatcher.from_file(WATCHLIST, backend=request.param)


@pytest.mark.parametrize(("text", "expected"), POSITIVE)
def test_brand_is_found_in_text(matcher: BrandMatcher, text: str, expected: list[str]) -> None:
    assert [m.brand for m in matcher.match_text(text)] == expected


@pytest.mark.parametrize("text", NEGATIVE)
def test_other_senses_of_a_brand_name_do_not_match(matcher: BrandMatcher, text: str) -> None:
    assert matcher.match_text(text) == []


def test_there_are_at_least_forty_cases() -> None:
    assert len(POSITIVE) + len(NEGATIVE) >= 40


def test_handle_and_hashtag_mentions_say_what_matched(matcher: BrandMatcher) -> None:
    mentions = matcher.match_text("@KPNwebcare help, #kpnstoring en ook Ziggo")
    assert [(m.brand, m.matched, m.kind) for m in mentions] == [
        ("KPN", "@KPNwebcare", "handle"),
        ("Ziggo", "Ziggo", "alias"),
    ]


def test_a_brand_is_reported_once_at_its_first_mention(matcher: BrandMatcher) -> None:
    mentions = matcher.match_text("KPN hier, KPN daar, @KPNwebcare overal")
    assert [(m.brand, m.matched) for m in mentions] == [("KPN", "KPN")]


def test_post_mention_and_hashtag_lists_count_too(matcher: BrandMatcher) -> None:
    post = RawPost(
        source="x",
        post_id="1",
        text="geen bereik hier",
        created_at="2026-10-01T10:00:00Z",  # type: ignore[arg-type]
        author=Author(id="1", handle="a"),
        mentions=["Odido_NL"],
        hashtags=["ziggostoring"],
    )
    assert [m.brand for m in matcher.match(post)] == ["Odido", "Ziggo"]


def test_alias_spellings_treat_hyphen_space_and_nothing_alike() -> None:
    assert alias_variants("t-mobile") == ["t mobile", "t-mobile", "tmobile"]
    assert alias_variants("KPN") == ["kpn"]


def test_watchlist_reloads_when_the_file_changes(tmp_path: Path) -> None:
    path = tmp_path / "brands.toml"
    path.write_text('[[brand]]\nname = "KPN"\naliases = ["kpn"]\n', encoding="utf-8")
    matcher = BrandMatcher.from_file(path)
    assert matcher.match_text("Tele2 is traag") == []
    path.write_text(
        '[[brand]]\nname = "KPN"\naliases = ["kpn"]\n[[brand]]\nname = "Tele2"\n'
        'aliases = ["tele2"]\n',
        encoding="utf-8",
    )
    _touch_later(path)
    assert matcher.reload_if_changed() is True
    assert [m.brand for m in matcher.match_text("Tele2 is traag")] == ["Tele2"]
    assert matcher.reload_if_changed() is False


def test_a_broken_watchlist_keeps_the_old_one(tmp_path: Path) -> None:
    path = tmp_path / "brands.toml"
    path.write_text('[[brand]]\nname = "KPN"\naliases = ["kpn"]\n', encoding="utf-8")
    matcher = BrandMatcher.from_file(path)
    path.write_text("[[brand]\nname = ", encoding="utf-8")
    _touch_later(path)
    assert matcher.reload_if_changed() is False
    assert [m.brand for m in matcher.match_text("KPN plat")] == ["KPN"]


def _touch_later(path: Path) -> None:
    """Move the mtime forward explicitly: coarse file-system clocks must not hide a change."""
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))


def test_the_pipeline_picks_up_a_changed_watchlist_without_restart(tmp_path: Path) -> None:
    from klachtradar.runtime.pipeline import Pipeline
    from klachtradar.settings import load_settings

    path = tmp_path / "brands.toml"
    path.write_text('[[brand]]\nname = "KPN"\naliases = ["kpn"]\n', encoding="utf-8")
    settings = load_settings()
    settings.history.backend = "memory"
    settings.watchlist.path = path
    settings.enrich.watchlist_check_seconds = 0
    pipeline = Pipeline.from_settings(settings)
    post = RawPost(
        source="x",
        post_id="9",
        text="Tele2 weer traag vandaag",
        created_at="2026-10-01T10:00:00Z",  # type: ignore[arg-type]
        author=Author(id="1", handle="a"),
    )
    assert pipeline.process([post]).scored[0].brands == []
    path.write_text(
        '[[brand]]\nname = "KPN"\naliases = ["kpn"]\n[[brand]]\nname = "Tele2"\n'
        'aliases = ["tele2"]\n',
        encoding="utf-8",
    )
    _touch_later(path)
    assert pipeline.process([post]).scored[0].brand_names == ["Tele2"]


def test_the_spacy_backend_is_a_setting() -> None:
    pytest.importorskip("spacy")
    matcher = BrandMatcher.from_file(WATCHLIST, backend="spacy")
    assert matcher.backend_name == "spacy"
    assert [m.brand for m in matcher.match_text("#kpnstoring en T Mobile")] == ["KPN", "Odido"]
