"""benchmarks.report: the figures blocks of the docs are rendered from
benchmarks/results/*.json, with the date and machine each result records."""

from __future__ import annotations

import json
from pathlib import Path

from benchmarks import report

MACHINE = {
    "date": "2026-01-02",
    "cpu": "CPU",
    "cores": "2",
    "python": "3.11.7",
    "system": "Linux",
}
REDEMPTIONS = {
    "benchmark": "redemptions",
    "machine": MACHINE,
    "clients": 16,
    "gunicorn_workers": 4,
    "one_hot_item": {"redemptions": 1500, "seconds": 15.04, "redemptions_per_s": 99.7,
                     "errors": 0, "first_errors": []},
    "spread_over_100_items": {"redemptions": 3000, "seconds": 15.0, "redemptions_per_s": 200.0,
                              "errors": 2, "first_errors": ["503 busy"]},
    "spread_to_hot": 2.006,
}  # fmt: skip
DOC = """# Performance

Redemptions, measured:

<!-- figures:redemptions -->
a figure typed by hand: 1,000,000/s
<!-- /figures -->

The text around a block stays as it is.
"""
EXPECTED = """# Performance

Redemptions, measured:

<!-- figures:redemptions -->

16 clients, gunicorn 4 workers.

|  | redemptions | seconds | per second | errors |
|---|---:|---:|---:|---:|
| all on one hot item | 1,500 | 15.0 | 100 | 0 |
| spread over 100 items | 3,000 | 15.0 | 200 | 2 |

Spread over hot: 2.01\N{MULTIPLICATION SIGN}.

`benchmarks/results/redemptions.json`: measured 2026-01-02 on CPU, 2 cores, Python 3.11.7, Linux.

<!-- /figures -->

The text around a block stays as it is.
"""


def checkout(root: Path, results: dict[str, dict[str, object]], doc: str = DOC) -> Path:
    """A README-less checkout holding ``results`` and one doc; returns the doc's path."""
    (root / "benchmarks" / "results").mkdir(parents=True)
    for name, result in results.items():
        (root / "benchmarks" / "results" / f"{name}.json").write_text(json.dumps(result))
    (root / "docs").mkdir()
    path = root / "docs" / "performance.md"
    path.write_text(doc)
    return path


def test_a_block_is_rendered_from_its_json_with_the_date_and_machine(tmp_path: Path) -> None:
    doc = checkout(tmp_path, {"redemptions": REDEMPTIONS})

    assert report.main(["--root", str(tmp_path), "--check"]) == 1
    assert doc.read_text() == DOC  # --check changes nothing
    assert report.main(["--root", str(tmp_path)]) == 0
    assert doc.read_text() == EXPECTED
    assert report.main(["--root", str(tmp_path), "--check"]) == 0


def test_check_names_the_block_that_differs_from_its_json(tmp_path: Path, capsys) -> None:
    doc = checkout(tmp_path, {"redemptions": REDEMPTIONS}, EXPECTED)
    result = tmp_path / "benchmarks" / "results" / "redemptions.json"
    result.write_text(json.dumps({**REDEMPTIONS, "spread_to_hot": 3.0}))

    assert report.main(["--root", str(tmp_path), "--check"]) == 1
    assert "docs/performance.md: figures redemptions differ" in capsys.readouterr().out
    assert doc.read_text() == EXPECTED


def test_a_result_without_date_and_machine_says_so(tmp_path: Path) -> None:
    unrecorded = {key: value for key, value in REDEMPTIONS.items() if key != "machine"}
    doc = checkout(tmp_path, {"redemptions": unrecorded})

    assert report.main(["--root", str(tmp_path)]) == 0
    assert (
        "`benchmarks/results/redemptions.json`: the date and machine were not recorded."
        in doc.read_text()
    )


def test_an_unknown_block_a_missing_result_or_an_open_block_is_an_error(
    tmp_path: Path, capsys
) -> None:
    doc = checkout(tmp_path, {})
    assert report.main(["--root", str(tmp_path), "--check"]) == 2
    assert "no benchmarks/results/redemptions.json" in capsys.readouterr().err

    doc.write_text("<!-- figures:nobody -->\n<!-- /figures -->\n")
    assert report.main(["--root", str(tmp_path), "--check"]) == 2
    assert "no renderer for the figures block 'nobody'" in capsys.readouterr().err

    doc.write_text("<!-- figures:redemptions -->\nno end\n")
    assert report.main(["--root", str(tmp_path), "--check"]) == 2
    assert "without its <!-- /figures -->" in capsys.readouterr().err


def test_a_marker_quoted_in_a_sentence_is_not_a_block() -> None:
    text = "Blocks sit between `<!-- figures:NAME -->` and `<!-- /figures -->` lines.\n"
    assert report.regenerate(text, {}) == text


def test_the_committed_docs_agree_with_the_committed_results() -> None:
    """Every figures block of README.md and docs/*.md is what benchmarks/results gives;
    if this fails, run `python -m benchmarks.report` (never edit a block by hand)."""
    assert report.main(["--check"]) == 0
