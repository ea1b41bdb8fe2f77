"""The pieces `bench.run` shares between its SQLite and PostgreSQL sides (bench/steps.py) that need no database."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench import steps


def test_lookup_queries_mix_serials_spaced_serials_and_mark_texts() -> None:
    rows = [(f"id{i}", f"AB{i:04d}", f"MAKER XX AB{i:04d}") for i in range(8)]
    queries = steps.lookup_queries(rows)
    assert [kind for _, _, kind in queries].count("mark_text") == 2  # 1 in 4
    assert queries[3] == ("id3", "MAKER XX AB0003", "mark_text")
    assert queries[1] == ("id1", "ab0 001", "serial")  # 1 in 8 typed in lower case, in groups of three
    assert queries[0] == ("id0", "AB0000", "serial")


def test_loadavg_text_with_and_without_the_end() -> None:
    start = {"loadavg_at_start": (1.0, 0.5, 0.25)}
    assert steps.loadavg_text(start) == "Load average at start 1.00, 0.50, 0.25."
    end = start | {"loadavg_at_end": (2.0, 1.0, 0.5)}
    assert steps.loadavg_text(end) == "Load average at start 1.00, 0.50, 0.25, at end 2.00, 1.00, 0.50."


@pytest.mark.parametrize("keep", [False, True])
def test_cleaned_up_removes_the_folder_even_on_failure_unless_kept(
    tmp_path: Path, keep: bool, capsys: pytest.CaptureFixture[str]
) -> None:
    work = tmp_path / "work"
    work.mkdir()
    dropped: list[bool] = []
    with (
        pytest.raises(RuntimeError),
        steps.cleaned_up(work, keep=keep, kept_note=" and x", then=lambda: dropped.append(True)),
    ):
        raise RuntimeError("a step failed")
    assert work.exists() is keep
    assert dropped == ([] if keep else [True])
    assert ("kept" in capsys.readouterr().out) is keep


def test_import_figures_put_backend_extras_before_the_warnings() -> None:
    from bench.run import ChildRun

    child = ChildRun(2.0, 100.0, 0, {"warnings": 1, "rejected": 0}, [(0.1, 50.0)])
    figures = steps.import_figures(child, 10, server_backend={"peak_rss_mb": 1.0})
    assert list(figures) == [
        "weapons",
        "wall_s",
        "weapons_per_s",
        "peak_rss_mb",
        "rss_by_tenth_mb",
        "server_backend",
        "warnings",
        "rejected",
    ]
    assert figures["weapons_per_s"] == 5.0
