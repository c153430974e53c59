"""The table `make bench` prints: every page against its target, a failed page saying why, rows from other
bench scripts."""
from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("bench_report", ROOT / "scripts" / "bench_report.py")
assert _spec and _spec.loader
bench_report = importlib.util.module_from_spec(_spec)
sys.modules["bench_report"] = bench_report
_spec.loader.exec_module(bench_report)

REPORT = {
    "load": {"start": [1.5, 1.2, 0.9], "end": [2.5, 1.4, 1.0], "cpus": 2, "when": "2026-05-01 10:00 BST"},
    "minimal_endpoint": {"rps": 2000.0, "p50_ms": 20.0, "p95_ms": 30.0, "load_1m": 1.5},
    "pages": {
        "register_get": {"rps": 320.0, "p50_ms": 140.0, "p95_ms": 149.0, "throughput_vs_minimal": 0.16,
                         "errors": 0, "load_1m": 1.6},
        "progress_grid": {"rps": 150.0, "p50_ms": 300.0, "p95_ms": 420.0, "throughput_vs_minimal": 0.075,
                          "errors": 0, "load_1m": 1.9},
        "groups_list": {"rps": 250.0, "p50_ms": 100.0, "p95_ms": 120.0, "throughput_vs_minimal": 0.125,
                        "errors": 3, "load_1m": 2.0},
        "signed_in_floor": {"rps": 600.0, "p50_ms": 60.0, "p95_ms": 90.0, "throughput_vs_minimal": 0.3,
                            "errors": 3000, "load_1m": 2.0},
        "attendance_tap": {"error": "POST /sessions/{session}/attendees/{attendee} answered 500", "load_1m": 2.1},
    },
}


def _rows(text: str) -> dict[str, list[str]]:
    rows = {}
    for line in text.splitlines():
        if line.startswith("| ") and not line.startswith("| page"):
            cells = [c.strip() for c in line.strip("|").split("|")]
            rows[cells[0]] = cells
    return rows


def test_each_page_is_met_only_when_both_its_p95_and_its_share_of_the_floor_are() -> None:
    rows = _rows(bench_report.table([REPORT]))
    assert rows["register page"] == ["register page", "140 ms", "149 ms", "320/s", "16.0%",
                                     "p95 < 150 ms, ≥ 15% of floor", "met", "1.6"]
    assert rows["group progress grid"][6] == "missed (p95, throughput)"
    assert rows["groups list"][6] == "missed (3 errors)"
    assert rows["minimal Flask endpoint (floor)"][3] == "2,000/s"
    floor = rows["signed-in page showing nothing (404): the app's own floor"]
    assert floor[4:7] == ["30.0%", "", "(no target)"]  # its 404s are what it is for, not errors


def test_a_page_that_failed_says_why_and_the_others_are_still_reported() -> None:
    rows = _rows(bench_report.table([REPORT]))
    assert rows["attendance tap (HTMX POST, a real write)"][6] == (
        "failed: POST /sessions/{session}/attendees/{attendee} answered 500")
    assert len(rows) == 6


def test_other_bench_scripts_add_rows_and_the_load_is_printed() -> None:
    extra = {"table_rows": [
        {"name": "reconciliation, national", "value": "95 s", "target": "< 120 s", "met": True, "load": 1.8},
        {"name": "reconciliation peak memory", "value": "350 MB", "target": "< 300 MB", "met": False,
         "note": "streams pages of 1,000"},
    ]}
    text = bench_report.table([REPORT, extra])
    rows = _rows(text)
    assert rows["reconciliation, national"][1:3] == ["95 s", "–"] and rows["reconciliation, national"][6] == "met"
    assert rows["reconciliation peak memory"][6] == "missed (streams pages of 1,000)"
    assert "Load average (1, 5, 15 min) at the start: 1.50, 1.20, 0.90; at the end: 2.50, 1.40, 1.00" in text


def test_the_readme_table_is_rewritten_between_its_markers(tmp_path: Path) -> None:
    readme = tmp_path / "README.md"
    readme.write_text(f"## Performance\n\nbefore\n{bench_report.START}\nold\n{bench_report.END}\nafter\n")
    report = tmp_path / "pages.json"
    report.write_text("wrk installed\n" + json.dumps(REPORT, indent=2) + "\n")
    assert bench_report.main([str(report), "--readme", str(readme)]) == 0
    text = readme.read_text()
    assert "old" not in text and "| register page | 140 ms |" in text
    assert text.startswith("## Performance\n\nbefore\n") and text.endswith(f"{bench_report.END}\nafter\n")
