"""`flask programme publish FILE --valid-from DATE` and `flask programme versions` (issue 15.10)."""
from __future__ import annotations

import json
import sys
from datetime import date

import click

from app.extensions import db


@click.group("programme")
def programme_cli() -> None:
    """Programme template versions."""


def _refuse(message: str) -> None:
    db.session.rollback()
    click.echo(f"error: {message}", err=True)
    sys.exit(2)


@programme_cli.command("publish")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--valid-from", "valid_from", required=True, metavar="YYYY-MM-DD",
              help="Groups created from this date use the new version.")
def publish(file: str, valid_from: str) -> None:
    """Check a programme template (the building_choices.json shape) and publish it as a new version."""
    from app.services.programme_publish import PublishRefused
    from app.services.programme_publish import publish as publish_version

    try:
        starts = date.fromisoformat(valid_from.strip())
    except ValueError:
        _refuse(f"--valid-from must be a date like 2027-04-01, not {valid_from!r}")
        return
    try:
        with open(file, encoding="utf-8") as handle:
            data = json.load(handle)
    except OSError as exc:
        _refuse(f"cannot read {file}: {exc.strerror or exc}")
        return
    except (ValueError, UnicodeDecodeError) as exc:
        _refuse(f"{file} is not JSON: {str(exc).splitlines()[0]}")
        return
    try:
        template = publish_version(data, starts)
    except PublishRefused as exc:
        _refuse(f"{file}: {exc}")
        return
    sessions = sum(len(m.session_templates) for m in template.modules)
    click.echo(f"Published {template.name} valid from {template.valid_from:%-d %B %Y}: {len(template.modules)} "
               f"modules, {sessions} sessions. Groups created from that date use it; groups already created "
               "keep theirs.")


@programme_cli.command("versions")
def list_versions() -> None:
    """Every version of every programme, newest first."""
    from app.services.programme_publish import versions

    for v in versions():
        until = f" until {v.template.valid_until:%-d %B %Y}" if v.template.valid_until else ""
        click.echo(f"{v.template.name}: valid from {v.template.valid_from:%-d %B %Y}{until}; {v.modules} modules, "
                   f"{v.sessions} sessions, {v.groups} groups; {v.status}")
