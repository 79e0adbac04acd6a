"""CLI errors are one line and exit 2: our own errors, and optional packages not installed."""

from __future__ import annotations

import pytest

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
