"""`flask schedule preview`: the planning command for support staff and scripts.

Its interface is fixed (other tools depend on it): every error is one line on stderr and exit status 2."""
from __future__ import annotations

import json
import sys
from datetime import date, datetime, time
from pathlib import Path
from typing import Any

import click
from sqlalchemy.exc import SQLAlchemyError

from app.integrations.bank_holidays import parse_govuk, snapshot_path
from app.scheduling import (
    ExistingSession,
    ProgrammeSpec,
    ScheduleRefused,
    Slot,
    apply_moves,
    generate,
    parse_slot,
    postpone,
    regenerate_future,
)
from app.services.bank_holidays import DIVISION, holiday_dates, with_fallback
from app.services.programme import template_json

YEARS_AHEAD = 4


class Refused(Exception):
    """A one-line reason to print before exiting with status 2."""


def _date(value: str, option: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise Refused(f"{option}: '{value}' is not a date (YYYY-MM-DD)") from None


def _datetime(value: str, option: str) -> datetime:
    try:
        parsed = datetime.strptime(value, "%Y-%m-%dT%H:%M")
    except ValueError:
        raise Refused(f"{option}: '{value}' is not a date and time (YYYY-MM-DDTHH:MM)") from None
    return parsed


def _time(value: str, option: str) -> time:
    try:
        return datetime.strptime(value, "%H:%M").time()
    except ValueError:
        raise Refused(f"{option}: '{value}' is not a time (HH:MM)") from None


def _slots(values: tuple[str, ...], option: str) -> list[Slot]:
    slots = []
    for value in values:
        try:
            slots.append(parse_slot(value))
        except ValueError as exc:
            raise Refused(f"{option}: {exc}") from None
    return slots


def _holidays_from_file(path: str, start: date) -> frozenset[date]:
    try:
        data = json.loads(Path(path).read_text("utf-8"))
        events = parse_govuk(data, DIVISION)
    except (OSError, ValueError) as exc:
        raise Refused(f"--bank-holidays: cannot read {path}: {exc}") from None
    known = {d for d, _ in events}
    covered = (min(known).year, max(known).year) if known else None
    return with_fallback(known, covered, range(start.year, start.year + YEARS_AHEAD + 1))


def _app_holidays(start: date) -> frozenset[date]:
    """The database's data (after `flask db upgrade`); the shipped snapshot if there is no database yet."""
    try:
        return holiday_dates(start, YEARS_AHEAD)
    except SQLAlchemyError:
        return _holidays_from_file(str(snapshot_path()), start)


def _timeline(programme: ProgrammeSpec, slots: list[Slot], start: date, holidays: frozenset[date],
              ) -> list[ExistingSession]:
    return [
        ExistingSession(
            key=f"{p.module_number}.{p.session_number}", module_number=p.module_number,
            session_number=p.session_number, name=p.name, session_type=p.session_type, kind="scheduled",
            starts_at=p.starts_at, ends_at=p.ends_at,
        )
        for p in generate(programme, slots, start, holidays)
    ]


def _postpone_target(value: str) -> tuple[str, datetime]:
    key, sep, when = value.partition("=")
    parts = key.split(".")
    if not sep or len(parts) != 2 or not all(p.isdigit() for p in parts):
        raise Refused(f"--postpone: '{value}' is not M.S=YYYY-MM-DDTHH:MM")
    return f"{int(parts[0])}.{int(parts[1])}", _datetime(when, "--postpone")


def preview(*, earliest_start: str | None, slot: tuple[str, ...], bank_holidays: str | None,
            now: str | None, postpone_to: tuple[str, ...], end: str | None, no_cascade: bool,
            reslot: tuple[str, ...], restart_from: str | None) -> list[dict]:
    from app.scheduling import programme_from_json

    if not earliest_start:
        raise Refused("--earliest-start is required (YYYY-MM-DD)")
    start = _date(earliest_start, "--earliest-start")
    if not slot:
        raise Refused("at least one --slot DAY@HH:MM is required")
    slots = _slots(slot, "--slot")
    new_slots = _slots(reslot, "--reslot")
    restart = _date(restart_from, "--restart-from") if restart_from else None
    clock = _datetime(now, "--now") if now else None
    if end and not postpone_to:
        raise Refused("--end only goes with --postpone")
    if end and len(postpone_to) > 1:
        raise Refused("--end only goes with a single --postpone")
    if no_cascade and not postpone_to:
        raise Refused("--no-cascade only goes with --postpone")
    if (postpone_to or new_slots or restart) and clock is None:
        raise Refused("--now is required with --postpone, --reslot or --restart-from")

    holidays = _holidays_from_file(bank_holidays, start) if bank_holidays else _app_holidays(start)
    programme = programme_from_json(template_json())
    try:
        timeline = _timeline(programme, slots, start, holidays)
    except ValueError as exc:
        raise Refused(f"--slot: {exc}") from None
    try:
        for value in postpone_to:  # in the order given, each against the schedule the previous one left
            assert clock is not None  # --now is required with --postpone (refused above)
            key, new_start = _postpone_target(value)
            if key not in {s.key for s in timeline}:
                raise Refused(f"--postpone: there is no session {key} in the programme")
            new_end = datetime.combine(new_start.date(), _time(end, "--end")) if end else None
            moves = postpone(programme, timeline, key, new_start, new_end, cascade=not no_cascade,
                             now=clock, slots=slots, bank_holidays=holidays)
            timeline = apply_moves(timeline, moves)
        if new_slots or restart:
            assert clock is not None  # --now is required with --reslot and --restart-from (refused above)
            moves = regenerate_future(programme, timeline, now=clock, slots=new_slots or slots,
                                      restart_from=restart, bank_holidays=holidays)
            timeline = apply_moves(timeline, moves)
    except ScheduleRefused as exc:
        raise Refused(str(exc)) from None

    order = programme.template_order()
    timeline = sorted(timeline, key=lambda s: (s.starts_at, order[s.template_key]))
    return [
        {
            "module_number": s.module_number, "session_number": s.session_number, "name": s.name,
            "session_type": s.session_type, "starts_at": s.starts_at.strftime("%Y-%m-%dT%H:%M"),
            "ends_at": s.ends_at.strftime("%Y-%m-%dT%H:%M"),
        }
        for s in timeline
    ]


@click.group("schedule")
def schedule_cli() -> None:
    """Work out schedules."""


class OneLineErrors(click.Command):
    """Usage mistakes (an unknown option, a missing value) print one line and exit 2, like every refusal."""

    def main(self, *args: Any, **kwargs: Any) -> Any:
        kwargs["standalone_mode"] = False
        try:
            return super().main(*args, **kwargs)
        except click.UsageError as exc:
            click.echo(f"error: {exc.format_message()}", err=True)
            sys.exit(2)

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        try:
            return super().parse_args(ctx, args)
        except click.UsageError as exc:
            click.echo(f"error: {exc.format_message()}", err=True)
            sys.exit(2)


@schedule_cli.command("preview", cls=OneLineErrors)
@click.option("--earliest-start", help="YYYY-MM-DD")
@click.option("--slot", multiple=True, help="DAY@HH:MM, e.g. MONDAY@10:00 (repeatable)")
@click.option("--bank-holidays", "bank_holidays", help="a GOV.UK-format bank-holidays JSON file")
@click.option("--now", help="the clock, YYYY-MM-DDTHH:MM: sessions starting at or before it are past")
@click.option("--postpone", "postpone_to", multiple=True,
              help="M.S=YYYY-MM-DDTHH:MM: move module M session S (repeatable: applied in the order given)")
@click.option("--end", help="HH:MM: the postponed session's new end time")
@click.option("--no-cascade", is_flag=True, help="move only that session")
@click.option("--reslot", multiple=True, help="DAY@HH:MM: the group's new slots from --now (repeatable)")
@click.option("--restart-from", help="YYYY-MM-DD: the group's new start date")
@click.option("--json", "as_json", is_flag=True, help="print JSON (the only format)")
def preview_command(as_json: bool, **options: object) -> None:
    """Print the whole schedule of a group as a JSON array."""
    try:
        result = preview(**options)  # type: ignore[arg-type]
    except Refused as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
    click.echo(json.dumps(result, indent=2))


@schedule_cli.command("resume")
@click.argument("operation_id", type=int)
def resume_command(operation_id: int) -> None:
    """Finish a reschedule (postpone cascade or new days and times) whose worker died or gave up: the steps not
    yet applied are applied now, in this process; those already applied are left alone."""
    from app.services.errors import ServiceError
    from app.services.reschedule import carry_on

    try:
        operation = carry_on(operation_id)
    except ServiceError as exc:
        click.echo(f"error: {exc.message}", err=True)
        sys.exit(2)
    click.echo(f"{operation.status}: {operation.message}")
