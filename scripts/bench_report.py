"""The table `make bench` prints after its JSON: `python scripts/bench_report.py REPORT.json...`.

Each file is one JSON object printed by a bench script. Pages come from `scripts/bench.py` ("pages", measured
against "minimal_endpoint", the floor). Any script may add rows of its own with a "table_rows" list, each a dict:

    {"name": "reconciliation, national", "value": "95 s", "target": "< 120 s", "met": true, "load": 1.9}

(a latency row may give p50_ms / p95_ms / rps / vs_floor instead of "value"; "note" says why a row failed).
`--readme README.md` also rewrites the figures between the BENCH-TABLE markers of the README's Performance
section."""
from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path

P95_TARGET_MS = 150.0
# Share of the floor's throughput each page must reach (issue 16).
THROUGHPUT_TARGETS = {"register_get": 0.15}
DEFAULT_THROUGHPUT_TARGET = 0.10
LABELS = {
    "register_get": "register page",
    "attendance_tap": "attendance tap (HTMX POST, a real write)",
    "calendar_region_month": "calendar, region month",
    "progress_grid": "group progress grid",
    "regional_dashboard": "regional dashboard",
    "groups_list": "groups list",
    "signed_in_floor": "signed-in page showing nothing (404): the app's own floor",
}
UNTARGETED = {"signed_in_floor"}
START, END = "<!-- BENCH-TABLE:START -->", "<!-- BENCH-TABLE:END -->"


@dataclass
class Row:
    name: str
    p50: str = "–"
    p95: str = "–"
    throughput: str = "–"
    vs_floor: str = "–"
    target: str = ""
    result: str = ""
    load: str = "–"


def _ms(value: float | None) -> str:
    return "–" if value is None else f"{value:,.0f} ms" if value >= 10 else f"{value:.1f} ms"


def _load(value: float | None) -> str:
    return "–" if value is None else f"{value:.1f}"


def page_rows(report: dict) -> list[Row]:
    floor = report.get("minimal_endpoint") or {}
    rows = []
    if floor:
        rows.append(Row("minimal Flask endpoint (floor)", _ms(floor.get("p50_ms")), _ms(floor.get("p95_ms")),
                        f"{floor.get('rps', 0):,.0f}/s", "1", "", "", _load(floor.get("load_1m"))))
    for name, page in (report.get("pages") or {}).items():
        share = THROUGHPUT_TARGETS.get(name, DEFAULT_THROUGHPUT_TARGET)
        target = "" if name in UNTARGETED else f"p95 < {P95_TARGET_MS:.0f} ms, ≥ {share:.0%} of floor"
        label = LABELS.get(name, name)
        if "error" in page:
            rows.append(Row(label, target=target, result=f"failed: {page['error']}", load=_load(page.get("load_1m"))))
            continue
        ratio = page.get("throughput_vs_minimal")
        if name in UNTARGETED:
            rows.append(Row(label, _ms(page["p50_ms"]), _ms(page["p95_ms"]), f"{page['rps']:,.0f}/s",
                            "–" if ratio is None else f"{ratio:.1%}", "", "(no target)", _load(page.get("load_1m"))))
            continue
        missed = []
        if page["p95_ms"] >= P95_TARGET_MS:
            missed.append("p95")
        if ratio is None or ratio < share:
            missed.append("throughput")
        if page.get("errors"):
            missed.append(f"{page['errors']} errors")
        result = "met" if not missed else "missed (" + ", ".join(missed) + ")"
        rows.append(Row(label, _ms(page["p50_ms"]), _ms(page["p95_ms"]), f"{page['rps']:,.0f}/s",
                        "–" if ratio is None else f"{ratio:.1%}", target, result, _load(page.get("load_1m"))))
    return rows


def extra_rows(report: dict) -> list[Row]:
    rows = []
    for item in report.get("table_rows") or []:
        met = item.get("met")
        result = "" if met is None else "met" if met else "missed"
        if item.get("note"):
            result = f"{result} ({item['note']})" if result else item["note"]
        if "value" in item:
            rows.append(Row(item["name"], p50=str(item["value"]), target=item.get("target", ""), result=result,
                            load=_load(item.get("load"))))
        else:
            rows.append(Row(item["name"], _ms(item.get("p50_ms")), _ms(item.get("p95_ms")),
                            f"{item['rps']:,.0f}/s" if item.get("rps") is not None else "–",
                            f"{item['vs_floor']:.1%}" if item.get("vs_floor") is not None else "–",
                            item.get("target", ""), result, _load(item.get("load"))))
    return rows


def table(reports: list[dict]) -> str:
    rows: list[Row] = []
    for report in reports:
        rows += page_rows(report) + extra_rows(report)
    lines = ["| page / figure | p50 (or value) | p95 | throughput | vs floor | target | result | load (1 min) |",
             "|---|---|---|---|---|---|---|---|"]
    lines += [f"| {r.name} | {r.p50} | {r.p95} | {r.throughput} | {r.vs_floor} | {r.target} | {r.result} | {r.load} |"
              for r in rows]
    loads = [r.get("load") for r in reports if r.get("load")]
    if loads:
        first, last = loads[0], loads[-1]
        lines.append("")
        lines.append(f"Load average (1, 5, 15 min) at the start: {', '.join(f'{x:.2f}' for x in first['start'])}; "
                     f"at the end: {', '.join(f'{x:.2f}' for x in last['end'])} "
                     f"({first.get('cpus', '?')} CPUs; {first.get('when', '')}).")
    return "\n".join(lines)


def rewrite_readme(path: Path, text: str) -> None:
    readme = path.read_text()
    if START not in readme or END not in readme:
        raise SystemExit(f"{path} has no {START} … {END} markers")
    head, rest = readme.split(START, 1)
    _, tail = rest.split(END, 1)
    path.write_text(f"{head}{START}\n{text}\n{END}{tail}")


def _last_json(text: str) -> dict:
    """The JSON object a bench script printed (its output may have other lines before it)."""
    lines = text.splitlines()
    starts = [i for i, line in enumerate(lines) if line.startswith("{")]
    if not starts:
        raise ValueError("no JSON object")
    return json.loads("\n".join(lines[starts[-1]:]))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("reports", nargs="+", type=Path)
    parser.add_argument("--readme", type=Path, help="also rewrite this README's bench table")
    args = parser.parse_args(argv)
    reports = []
    for path in args.reports:
        try:
            reports.append(_last_json(path.read_text()))
        except (OSError, ValueError) as exc:
            print(f"{path}: no report ({exc})", file=sys.stderr)
    text = table(reports)
    print(text)
    if args.readme:
        rewrite_readme(args.readme, text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
