"""The ``orchestrion`` command: one group, one config object passed down to each process."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from orchestrion.config import Config


@click.group()
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False, path_type=Path),
    envvar="ORCHESTRION_CONFIG",
    default=None,
    help="Configuration file (INI); ORCHESTRION_<SECTION>_<OPTION> variables override it.",
)
@click.pass_context
def main(ctx: click.Context, config_path: Path | None) -> None:
    """Orchestrion: an orchestration server for SCXML statecharts."""
    ctx.obj = config_path


def _load_config(ctx: click.Context) -> Config:
    from orchestrion.config import load_config

    return load_config(ctx.obj)


@main.command()
@click.argument("document", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--event",
    "events",
    multiple=True,
    metavar="NAME[:JSON]",
    help="An external event delivered after start, in order; repeatable.",
)
@click.option("--timeout", type=float, default=60.0, show_default=True, help="Seconds.")
@click.option(
    "--restore-each-step",
    is_flag=True,
    help="Snapshot, drop and restore the session after every macrostep.",
)
def run(document: Path, events: tuple[str, ...], timeout: float, restore_each_step: bool) -> None:
    """Run one session of DOCUMENT in this process, with no server."""
    from orchestrion.runner import run_command

    raise SystemExit(run_command(document, list(events), timeout, restore_each_step))


@main.command()
@click.pass_context
def serve(ctx: click.Context) -> None:
    """HTTP API, a worker and the scheduler on one machine (embedded default: SQLite)."""
    from orchestrion.embedded import serve as serve_all

    serve_all(_load_config(ctx))


@main.command()
@click.pass_context
def api(ctx: click.Context) -> None:
    """The HTTP API process."""
    from api.server import run as run_api

    run_api(_load_config(ctx))


@main.command()
@click.pass_context
def worker(ctx: click.Context) -> None:
    """A worker process: runs sessions from the broker."""
    from workers.main import run as run_worker

    run_worker(_load_config(ctx))


@main.command()
@click.pass_context
def beat(ctx: click.Context) -> None:
    """The scheduler (beat) process."""
    from scheduler.beat import run as run_beat

    run_beat(_load_config(ctx))
