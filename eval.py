"""Evaluate a trained run, or run it on your own images.

    python eval.py --workdir runs/crowd_cpu_small                 # test split: metrics, CSV, PNGs
    python eval.py --workdir runs/crowd_cpu_small --which latest  # the last weights
    python eval.py --workdir runs/crowd_cpu_small --images photo.jpg my_folder/
    python eval.py --workdir runs/crowd_cpu_small --images street.mp4 --every_nth_frame 5
    python eval.py --workdir runs/crowd_cpu_small --to_label unlabeled_folder/  # label these first

Writes into <workdir>/eval_<split>_<which>/ (or --output): results.json (metrics, config,
package versions, device), predictions.csv, and pictures. From Python: rankjax.load.
"""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "1")  # TensorFlow's C++ start-up notices

from rankjax import cli  # noqa: E402  (CPU flags before JAX starts; no JAX or TensorFlow yet)


def main(argv: list[str] | None = None) -> None:
    args = cli.eval_parser(__doc__).parse_args(argv)
    # JAX and TensorFlow load here, once --help has answered.
    from rankjax import commands
    commands.evaluate(args)


if __name__ == "__main__":
    cli.stop_cleanly_on_sigterm()
    main()
