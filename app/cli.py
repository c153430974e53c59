"""Flask commands: `flask demo seed`, `flask schedule preview`, `flask bank-holidays refresh`,
`flask progress verify`."""
from __future__ import annotations

import sys

import click
from flask import Flask, current_app

from app.cli_schedule import schedule_cli
from app.extensions import db


@click.group("demo")
def demo_cli() -> None:
    """Demo data."""


@demo_cli.command("seed")
def demo_seed() -> None:
    """Load the template, bank holidays if missing, and the demo regions, users, referrals and groups."""
    from app import demo
    from app.services import bank_holidays

    if bank_holidays.covered_years() is None:
        bank_holidays.load_snapshot()
        db.session.commit()
    created = demo.seed()
    click.echo("Demo data loaded." if created else "Demo data was already there; nothing changed.")


@demo_cli.command("scale")
@click.option("--groups", type=click.IntRange(1, 100_000), default=5000, show_default=True)
@click.option("--seed", type=int, default=1, show_default=True)
def demo_scale(groups: int, seed: int) -> None:
    """National volume for benchmarks (bulk inserts; PostgreSQL recommended)."""
    from app.scale import generate_scale

    try:
        counts = generate_scale(groups, seed=seed, report=click.echo)
    except ValueError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
    click.echo(" ".join(f"{k}={v}" for k, v in sorted(counts.items())))


@click.group("bank-holidays")
def bank_holidays_cli() -> None:
    """England and Wales bank holidays."""


@bank_holidays_cli.command("refresh")
def bank_holidays_refresh() -> None:
    """Fetch GOV.UK's bank holidays; on failure the stored ones stay and the reason is printed."""
    from app.integrations.bank_holidays import BankHolidaySourceError
    from app.services import bank_holidays

    try:
        count = bank_holidays.refresh(current_app.config["BANK_HOLIDAYS_URL"])
    except (BankHolidaySourceError, ValueError) as exc:
        db.session.rollback()
        click.echo(f"error: bank holidays not refreshed, the stored ones are kept: {exc}", err=True)
        sys.exit(1)
    click.echo(f"Stored {count} bank holidays from GOV.UK.")


@bank_holidays_cli.command("load-snapshot")
def bank_holidays_snapshot() -> None:
    """Replace the stored bank holidays with the snapshot shipped with the app."""
    from app.services import bank_holidays

    count = bank_holidays.load_snapshot()
    db.session.commit()
    click.echo(f"Stored {count} bank holidays from the snapshot.")


@click.group("progress")
def progress_cli() -> None:
    """Stored completion progress."""


@progress_cli.command("verify")
@click.option("--show", default=50, show_default=True, help="How many differences to print.")
def progress_verify(show: int) -> None:
    """Recompute every person's completions, module and programme completion and percent from attendance alone;
    exit 1 on any difference from what is stored."""
    from app.services import progress

    differences = progress.verify()
    for difference in differences[:show]:
        click.echo(str(difference))
    if len(differences) > show:
        click.echo(f"… and {len(differences) - show} more")
    if differences:
        click.echo(f"{len(differences)} differences between stored progress and attendance", err=True)
        sys.exit(1)
    click.echo("Stored progress matches attendance.")


def register_cli(app: Flask) -> None:
    for group in (demo_cli, schedule_cli, bank_holidays_cli, progress_cli):
        app.cli.add_command(group)
    from app.cli_ndelius import ndelius_cli

    app.cli.add_command(ndelius_cli)
    from app.cli_events import events_cli

    app.cli.add_command(events_cli)
    from app.cli_programme import programme_cli

    app.cli.add_command(programme_cli)
    from app.cli_staff import staff_cli

    app.cli.add_command(staff_cli)
