"""The click group shared by ``datagen`` and ``cpgan``: user errors become one line."""

from __future__ import annotations

import logging

import click
from rich.console import Console
from rich.logging import RichHandler

from facecore.errors import UserInputError

console = Console(stderr=True)


class UserErrorGroup(click.Group):
    """A click group that reports ``UserInputError`` as ``Error: <message>`` and exits 2."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except UserInputError as err:
            raise click.ClickException(str(err)) from None


def params_option(section: str):
    """``--params FILE[:SECTION]``: read the command's config from a params.yaml section."""
    return click.option(
        "--params", "params", default=None, metavar="FILE[:SECTION]",
        help=f"read the config from section {section!r} (or SECTION) of a params.yaml, shaped "
             f"like the config dataclass; the other options override single fields of it.")


def setup_logging(verbose: bool) -> None:
    """Route library ``logging`` records through rich, once per process."""
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(message)s",
        handlers=[RichHandler(console=console, show_path=False, show_time=False)],
        force=True,
    )
