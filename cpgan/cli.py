"""``cpgan``: train, evaluate and run the Copy-and-Paste GAN."""

from __future__ import annotations

import click

from cpgan import __version__
from facecore.cli import UserErrorGroup, setup_logging


@click.group(cls=UserErrorGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="cpgan")
@click.option("-v", "--verbose", is_flag=True, help="Log debug details.")
def main(verbose: bool) -> None:
    """Hallucinate 128×128 uniformly-lit faces from 16×16 shaded thumbnails.

    \b
      cpgan train --data shards/ --out runs/a      train from datagen shards
      cpgan eval --checkpoint runs/a/last.pt --data shards/ --split test --out metrics.json
      cpgan hallucinate --checkpoint runs/a/last.pt thumbs/ --guide g.png --out out/
    """
    setup_logging(verbose)


# Command registrations.
from cpgan.commands import eval_cmd, hallucinate_cmd, train_cmd  # noqa: E402

main.add_command(train_cmd)
main.add_command(eval_cmd)
main.add_command(hallucinate_cmd)
