"""`automl-codegen report RUN_DIR [-o OUT_DIR]`."""

from __future__ import annotations

import subprocess
import sys

from automl_codegen.cli import main


def test_report_writes_both_files_and_prints_their_paths(trained_run, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["report", str(trained_run.run_dir), "-o", str(out)]) == 0
    printed = capsys.readouterr().out.split()
    assert printed == [str(out / "report.png"), str(out / "report.html")]
    assert (out / "report.png").stat().st_size > 10_000
    assert "<table" in (out / "report.html").read_text()


def test_report_no_html_writes_only_the_figure(trained_run, tmp_path, capsys):
    assert main(["report", str(trained_run.run_dir), "-o", str(tmp_path), "--no-html"]) == 0
    assert capsys.readouterr().out.split() == [str(tmp_path / "report.png")]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.png"]


def test_report_on_a_directory_that_is_not_a_run_says_so(tmp_path, capsys):
    assert main(["report", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err == (
        f"automl-codegen: error: {str(tmp_path)!r} is not a run directory (no journal.sqlite); "
        "pass the -o directory of a search\n"
    )
    assert not list(tmp_path.iterdir())


def test_report_on_a_missing_directory_says_so(tmp_path, capsys):
    assert main(["report", str(tmp_path / "nope")]) == 2
    assert f"run directory {str(tmp_path / 'nope')!r} does not exist" in capsys.readouterr().err


def test_help_does_not_import_matplotlib():
    code = (
        "import sys\n"
        "from automl_codegen.cli import main\n"
        "try:\n    main(['report', '--help'])\nexcept SystemExit:\n    pass\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('matplotlib', 'torch', 'tensorboard')))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "RUN_DIR" in done.stdout
    assert done.stdout.strip().splitlines()[-1] == "[]"
