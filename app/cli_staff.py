"""`flask staff refresh`: read every region's staff from nDelius now (the scheduler does it every hour)."""
from __future__ import annotations

import sys

import click
from flask.cli import with_appcontext


@click.group("staff")
def staff_cli() -> None:
    """The regions' staff, from nDelius."""


@staff_cli.command("refresh")
@with_appcontext
def staff_refresh() -> None:
    """Bring the facilitators in step with each region's members in nDelius; exit 1 if a region was not read."""
    from app.services import staff

    results = staff.refresh()
    for result in results:
        click.echo(result.summary(), err=bool(result.error))
    if any(result.error for result in results):
        sys.exit(1)
