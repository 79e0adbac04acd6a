"""The report's public-response numbers, on a store whose every number is known by hand.

PostNL, period 1 Oct 09:00 – 2 Oct 09:00 UTC. Complaints in the period (7):

====  =========  ===================================================
anna  09:00      answered in public after 10 min
bob   09:00      answered after 30 min
cor   09:00      answered after 90 min
dina  09:00      answered after 600 min (10 h)
eva   09:00      not answered
anna  11:00      complains again after the reply (answered, not solved)
anna  12:00      and again, same thread: still one conversation
====  =========  ===================================================

Outside: a complaint of 29 Sep answered after 5 min, a brand reply of 29 Sep, and a
KPN reply: none of them count.

By hand: rate 4/7; minutes 10, 30, 90, 600 → median (30 + 90) / 2 = 60, p90 at rank
0.9 × 3 = 2.7 → 90 + 0.7 × 510 = 447; within 1 h 2/7 (10, 30), within 8 h 3/7 (not 600);
PostNL replies in the period 6: professioneel 3, kortaf 1, grof 1, one broadcast
without a tone; answered-not-solved conversations 1.
"""

from __future__ import annotations

import base64
import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from klachtradar import cli
from klachtradar.contract import (
    Author,
    BrandReply,
    ModelRef,
    PublicResponse,
    ScoredPost,
    Tone,
    ToneJudgement,
)
from klachtradar.settings import TriageSettings
from sink.store import EmbeddedStore
from tests.unit.triage_support import T0, fill_store, raw_post
from triage.public_response import percentile
from triage.report import BrandReport, build_report
from triage.report_html import render_report
from triage.report_json import report_numbers

START, END = T0, T0 + timedelta(days=1)
COMPLAINT = "@PostNL mijn pakket is nooit aangekomen, dit is echt slechte service! {n}"


def _complaint(
    template: ScoredPost,
    post_id: str,
    handle: str,
    at: datetime,
    *,
    answered_after: float | None = None,
    thread: str | None = None,
    not_solved: bool = False,
) -> ScoredPost:
    post = template.post.model_copy(
        update={
            "post_id": post_id,
            "created_at": at,
            "author": Author(id=f"id-{handle}", handle=handle, followers=800),
        }
    )
    response = None
    if answered_after is not None:
        response = PublicResponse(
            responded_at=at + timedelta(minutes=answered_after),
            first_response_minutes=answered_after,
            by="PostNL",
            reply_doc_id=f"x:r-{post_id}",
        )
    return template.model_copy(
        update={
            "doc_id": post.doc_id,
            "post": post,
            "thread_id": thread or post.doc_id,
            "response": response,
            "answered_not_solved": not_solved,
        }
    )


def _reply(
    template: ScoredPost, post_id: str, at: datetime, tone: Tone | None, *, brand: str = "PostNL"
) -> ScoredPost:
    post = template.post.model_copy(
        update={
            "post_id": post_id,
            "created_at": at,
            "author": Author(id=f"id-{brand}", handle=brand, followers=121_000),
        }
    )
    judgement = None
    if tone is not None:
        judgement = ToneJudgement(
            tone=tone,
            proba={tone: 0.9},
            reasons=["test"],
            model=ModelRef(name="tone", version="v1"),
        )
    return template.model_copy(
        update={
            "doc_id": post.doc_id,
            "post": post,
            "brands": [],
            "reply": BrandReply(brand=brand, handle=brand, tone=judgement),
        }
    )


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("public") / "kr.db"
    early = T0 - timedelta(days=2)
    seed_post = raw_post("seed", COMPLAINT.format(n=0), handle="seed", at=early - timedelta(days=1))
    fill_store(path, [seed_post])  # a real complaint, outside the period: the template
    with EmbeddedStore(path) as db:
        seed = db.get("x:seed")
        assert seed is not None and seed.brand_names == ["PostNL"]
        assert seed.classification is not None and seed.classification.intent.value == "klacht"
        db.write_posts(
            [
                _complaint(seed, "anna1", "anna", T0, answered_after=10),
                _complaint(seed, "bob", "bob", T0, answered_after=30),
                _complaint(seed, "cor", "cor", T0, answered_after=90),
                _complaint(seed, "dina", "dina", T0, answered_after=600),
                _complaint(seed, "eva", "eva", T0),
                _complaint(
                    seed,
                    "anna2",
                    "anna",
                    T0 + timedelta(hours=2),
                    thread="x:anna1",
                    not_solved=True,
                ),
                _complaint(
                    seed,
                    "anna3",
                    "anna",
                    T0 + timedelta(hours=3),
                    thread="x:anna1",
                    not_solved=True,
                ),
                _complaint(seed, "old", "oud", early, answered_after=5),
                _reply(seed, "r1", T0 + timedelta(minutes=10), Tone.PROFESSIONEEL),
                _reply(seed, "r2", T0 + timedelta(minutes=30), Tone.PROFESSIONEEL),
                _reply(seed, "r3", T0 + timedelta(minutes=90), Tone.KORTAF),
                _reply(seed, "r4", T0 + timedelta(minutes=600), Tone.PROFESSIONEEL),
                _reply(seed, "r5", T0 + timedelta(hours=2, minutes=5), Tone.GROF),
                _reply(seed, "r6", T0 + timedelta(hours=4), None),  # a broadcast
                _reply(seed, "r-old", early + timedelta(minutes=5), Tone.GROF),
                _reply(seed, "kpn", T0 + timedelta(hours=1), Tone.GROF, brand="KPN"),
            ]
        )
    return path


@pytest.fixture(scope="module")
def report(store: Path) -> BrandReport:
    return build_report(store, brand="PostNL", start=START, end=END, triage=TriageSettings())


def test_percentile_interpolates_between_the_nearest_ranks() -> None:
    assert percentile([10, 20, 30, 40], 0.9) == pytest.approx(37.0)
    assert percentile([40, 10, 30, 20], 0.5) == pytest.approx(25.0)
    assert percentile([], 0.9) is None


def test_response_rate_and_first_response_times_by_hand(report: BrandReport) -> None:
    public = report.public
    assert report.complaints == public.complaints == 7
    assert public.answered == 4
    assert public.response_rate == pytest.approx(4 / 7)
    assert public.median_minutes == pytest.approx(60.0)
    assert public.p90_minutes == pytest.approx(447.0)


def test_shares_within_one_and_eight_hours_count_every_complaint(report: BrandReport) -> None:
    assert report.public.within_hour_share == pytest.approx(2 / 7)
    assert report.public.within_eight_hours_share == pytest.approx(3 / 7)


def test_brand_replies_by_tone_count_only_this_brand_in_the_period(report: BrandReport) -> None:
    assert report.public.replies == 6
    assert report.public.replies_by_tone == {"professioneel": 3, "kortaf": 1, "grof": 1}


def test_complaints_after_a_reply_count_once_per_conversation(report: BrandReport) -> None:
    assert report.public.answered_not_solved == 1


def test_a_brand_without_replies_has_no_median_and_zero_shares(store: Path) -> None:
    empty = build_report(
        store, brand="PostNL", start=END, end=END + timedelta(days=1), triage=TriageSettings()
    )
    assert empty.public.complaints == 0
    assert empty.public.median_minutes is None and empty.public.p90_minutes is None
    assert empty.public.response_rate == 0.0 == empty.public.within_hour_share
    render_report(empty, standalone=True)  # the plot says so instead of failing


def test_json_holds_the_same_numbers(report: BrandReport) -> None:
    numbers = json.loads(json.dumps(report_numbers(report)))
    public = numbers["public_response"]
    assert numbers["brand"] == "PostNL" and numbers["complaints"] == 7
    assert public["answered"] == 4
    assert public["response_rate"] == pytest.approx(4 / 7)
    assert public["median_first_response_minutes"] == pytest.approx(60.0)
    assert public["p90_first_response_minutes"] == pytest.approx(447.0)
    assert public["within_1h_share"] == pytest.approx(2 / 7)
    assert public["within_8h_share"] == pytest.approx(3 / 7)
    assert public["brand_replies"] == 6
    assert public["replies_by_tone"] == {"professioneel": 3, "kortaf": 1, "grof": 1}
    assert public["answered_not_solved_conversations"] == 1


def _kpi(html: str, name: str) -> str:
    match = re.search(rf'<b id="kpi-{name}">([^<]*)</b>', html)
    assert match, name
    return match.group(1)


def test_html_shows_the_numbers_and_the_first_response_plot(report: BrandReport) -> None:
    html = render_report(report, standalone=True)
    assert _kpi(html, "public-rate") == "57%"  # 4/7
    assert _kpi(html, "public-median") == "1 u"
    assert _kpi(html, "public-p90") == "7 u 27 min"  # 447 min
    assert _kpi(html, "within-1h") == "29%"
    assert _kpi(html, "within-8h") == "43%"
    assert _kpi(html, "not-solved") == "1"
    tones = re.findall(r'<tr class="tone-(\w+)"><td>\w+</td><td class="num">(\d+)</td>', html)
    assert tones == [("professioneel", "3"), ("kortaf", "1"), ("grof", "1")]
    figure = re.search(
        r'id="plot-first-response">.*?src="data:image/svg\+xml;base64,([^"]+)"', html
    )
    assert figure
    svg = base64.b64decode(figure.group(1)).decode("utf-8")
    assert "DDP 2017: gemiddeld 3 u 15 min" in svg
    assert "1 uur" in svg and "log-schaal" in svg


def _cli(store: Path, *extra: str) -> list[str]:
    return [
        "report", "--brand", "PostNL", "--since", START.isoformat(), "--until",
        END.isoformat(), "--store", str(store), *extra,
    ]  # fmt: skip


def test_report_json_prints_one_object_with_the_numbers(store: Path) -> None:
    result = CliRunner().invoke(cli.app, _cli(store, "--json"))
    assert result.exit_code == 0, result.output
    assert len(result.output.strip().splitlines()) == 1
    numbers = json.loads(result.output)
    assert numbers["public_response"]["p90_first_response_minutes"] == pytest.approx(447.0)
    assert numbers["start"] == START.astimezone(UTC).isoformat()


def test_report_json_with_out_is_a_one_line_error_exit_2(
    store: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(
        "sys.argv", ["klachtradar", *_cli(store, "--json", "--out", str(tmp_path / "r.html"))]
    )
    with pytest.raises(SystemExit) as exit_info:
        cli.main()
    assert exit_info.value.code == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("klachtradar: error: --json")
    assert captured.out == ""
    assert not (tmp_path / "r.html").exists()
