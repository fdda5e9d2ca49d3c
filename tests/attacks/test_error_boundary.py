"""main()'s error boundary: input errors are one line (exit 2); a bug keeps its traceback, says whose it is (exit 1)."""

from __future__ import annotations

import pytest

from automl_codegen import cli


def _raising(module: str, exc: BaseException):
    """A command that raises ``exc`` from code that looks as if it lived in ``module``."""
    namespace = {"__name__": module, "exc": exc}
    exec("def command(args):\n    raise exc\n", namespace)  # a function with another module's globals
    return namespace["command"]


def test_a_bug_keeps_its_traceback_and_ends_with_a_line_that_says_so(monkeypatch, capsys):
    monkeypatch.setitem(cli.COMMANDS, "plugins", _raising("automl_codegen.somewhere", ValueError("boom\nsecond line")))
    assert cli.main(["plugins"]) == cli.INTERNAL_ERROR == 1
    err = capsys.readouterr().err
    assert err.startswith("Traceback (most recent call last):")
    assert err.splitlines()[-1] == (
        "automl-codegen: internal error: ValueError: boom second line — this is a bug in automl-codegen; "
        "please report it with the traceback above"
    )


def test_a_bug_in_a_third_party_plugin_names_the_plugin(monkeypatch, capsys):
    # automl_codegen_random is installed (contrib/automl-codegen-random) and registers through
    # the entry points, as any third-party plugin does.
    monkeypatch.setitem(cli.COMMANDS, "plugins", _raising("automl_codegen_random.sampler", KeyError("k")))
    assert cli.main(["plugins"]) == 1
    assert capsys.readouterr().err.splitlines()[-1] == (
        "automl-codegen: internal error: KeyError: 'k' — this is a bug in the plugin automl-codegen-random "
        "(automl_codegen_random.sampler); please report it to its authors with the traceback above"
    )


def test_a_built_in_plugin_is_ours(monkeypatch, capsys):
    monkeypatch.setitem(cli.COMMANDS, "plugins", _raising("automl_codegen_plugins.spaces.nb201", TypeError("t")))
    assert cli.main(["plugins"]) == 1
    assert "— this is a bug in automl-codegen; please report it" in capsys.readouterr().err.splitlines()[-1]


def test_input_errors_and_interrupts_keep_their_statuses(monkeypatch, capsys):
    from automl_codegen.errors import ConfigError

    monkeypatch.setitem(cli.COMMANDS, "plugins", _raising("automl_codegen.x", ConfigError("bad\ninput")))
    assert cli.main(["plugins"]) == 2
    assert capsys.readouterr().err == "automl-codegen: error: bad input\n"
    monkeypatch.setitem(cli.COMMANDS, "plugins", _raising("automl_codegen.x", KeyboardInterrupt()))
    assert cli.main(["plugins"]) == 130


def test_an_error_line_is_cut_not_echoed_whole(monkeypatch, capsys):
    from automl_codegen.errors import ConfigError

    monkeypatch.setitem(cli.COMMANDS, "plugins", _raising("automl_codegen.x", ConfigError("x" * 10_000_000)))
    assert cli.main(["plugins"]) == 2
    err = capsys.readouterr().err
    assert len(err) < cli.MAX_ERROR_CHARS + 100
    assert err.rstrip().endswith("(10,000,000 characters in all)")


@pytest.mark.parametrize(
    ("argv", "line"),
    [
        (["search", "--budget-trials", "x"], "invalid int value: 'x'; see `automl-codegen search --help`"),
        (["generate", "--input-shape", "-1,8,8", "-o", "-"], "(a value that starts with '-' is written --flag=VALUE)"),
        (["search", "--fidelity", "x" * 1_000_000], "invalid choice: 'xxx"),
    ],
)
def test_command_line_errors_are_one_line_too(argv, line, capsys):
    with pytest.raises(SystemExit) as exit_:
        cli.main(argv)
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err[:500]
    assert err.startswith("automl-codegen: error: ")
    assert line in err
    assert len(err) < 500


def test_no_command_is_an_error_line(capsys):
    assert cli.main([]) == 2
    assert capsys.readouterr().err == (
        "automl-codegen: error: a command is needed: one of search, export, train, generate, report, plugins, demo; "
        "see `automl-codegen --help`\n"
    )
