"""CLI errors are one line and exit 2: our own errors, and optional packages not installed."""

from __future__ import annotations

from pathlib import Path

import pytest
from rich.console import Console
from typer.testing import CliRunner

from klachtradar import cli
from klachtradar.errors import ConfigError


def run_main_raising(monkeypatch: pytest.MonkeyPatch, exc: BaseException) -> None:
    def boom() -> None:
        raise exc

    monkeypatch.setattr(cli, "app", boom)
    cli.main()


def test_a_missing_optional_package_names_the_extra_that_installs_it(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        run_main_raising(
            monkeypatch, ModuleNotFoundError("No module named 'uvicorn'", name="uvicorn")
        )
    assert exit_info.value.code == 2
    err = " ".join(capsys.readouterr().err.split())
    assert "pip install 'klachtradar[web]'" in err
    assert "Traceback" not in err


def test_brackets_in_error_messages_survive(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit):
        run_main_raising(monkeypatch, ConfigError("needs pip install 'klachtradar[es]'"))
    assert "klachtradar[es]" in capsys.readouterr().err


def test_an_unknown_missing_module_is_a_real_bug_and_propagates(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with pytest.raises(ModuleNotFoundError):
        run_main_raising(monkeypatch, ModuleNotFoundError("x", name="definitely_not_ours"))


def test_an_error_is_one_line_on_an_80_column_terminal(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(cli, "err_console", Console(stderr=True, width=80))
    message = (
        "unknown environment variable KLACHTRADAR_KAFKA__BOOTSTRAP_SERVER (did you mean "
        "'KLACHTRADAR_KAFKA__BOOTSTRAP_SERVERS'?): settings are KLACHTRADAR_<SECTION>__<KEY>"
    )
    with pytest.raises(SystemExit):
        run_main_raising(monkeypatch, ConfigError(message))
    err = capsys.readouterr().err
    assert err == f"klachtradar: error: {message}\n"


def test_a_mistyped_model_lists_the_models_and_the_closest(tmp_path: Path) -> None:
    models = tmp_path / "models"
    for name in ("linear", "embedding"):
        (models / name / "v1").mkdir(parents=True)
        (models / name / "v1" / "card.json").write_text('{"backend": "linear"}', "utf-8")
    result = CliRunner().invoke(
        cli.app, ["evaluate", "--model", "linaer", "--models-dir", str(models)]
    )
    assert isinstance(result.exception, ConfigError)
    message = str(result.exception)
    assert "no model 'linaer'" in message
    assert "did you mean 'linear'?" in message
    assert "available: lexicon, embedding, linear" in message
