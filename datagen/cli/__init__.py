"""``datagen``: build illumination-robust face-SR datasets (faces, RaIN, synth, shards).

Each area keeps its commands in its own module; they are registered here,
explicitly, so ``datagen --help`` lists everything the package can do.
"""

from __future__ import annotations

import click

from datagen import __version__
from facecore.cli import UserErrorGroup, setup_logging


@click.group(cls=UserErrorGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="datagen")
@click.option("-v", "--verbose", is_flag=True, help="Log debug details.")
def main(verbose: bool) -> None:
    """Build training pairs for face hallucination from shaded thumbnails.

    \b
    Typical flow:
      datagen faces --source synthetic --n 64 --out faces.png   look at the faces
      datagen train-rain --phase finetune ... --out rain.pt     stage 1: relighting model
      datagen synth --n 100000 --rain rain.pt --out shards/     stage 2: sharded pairs
      datagen inspect shards/ ; datagen preview shards/         check what was made
    """
    setup_logging(verbose)


# Command registrations: one module per area, listed explicitly.
from datagen.cli.align import align_cmd  # noqa: E402
from datagen.cli.faces import faces  # noqa: E402
from datagen.cli.rain import eval_rain_cmd, stylize_cmd, train_rain_cmd  # noqa: E402
from datagen.cli.shards import inspect_cmd, lighting_cmd, preview_cmd, verify_cmd  # noqa: E402
from datagen.cli.synth import synth_cmd  # noqa: E402

for _command in (faces, align_cmd, train_rain_cmd, stylize_cmd, eval_rain_cmd, synth_cmd,
                 inspect_cmd, verify_cmd, preview_cmd, lighting_cmd):
    main.add_command(_command)
