"""``python -m sb3_wasserstein.zoo train|enjoy [rl-zoo3 flags]`` (console script ``sb3-wasserstein-zoo``).

Registers WPO, SPO and WPG in rl-zoo3, then runs rl-zoo3's own ``train()`` or ``enjoy()`` on the
remaining arguments. Three things differ from ``python -m rl_zoo3.train``:

- ``train`` without ``-conf/--conf-file`` reads our ``hyperparams/<algo>.yml`` for ``wpo``, ``spo``
  and ``wpg`` (rl-zoo3 would look for the file inside rl-zoo3);
- ``train -i checkpoint.zip`` continues the checkpoint's step count (rl-zoo3 restarts it at 0):
  ``-n`` is then the number of further steps;
- ``delta: lin_0.05`` in a yml (or ``--hyperparams delta:"'lin_0.05'"``) gives WPO's and SPO's radius a linear
  schedule from 0.05 to 0, as rl-zoo3 does for ``learning_rate`` and ``clip_range``.
"""

import sys
from collections.abc import Sequence

from sb3_wasserstein.zoo import register

COMMANDS = ("train", "enjoy")


def main(argv: Sequence[str] | None = None) -> None:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] not in COMMANDS:
        print(f"usage: sb3-wasserstein-zoo {{{','.join(COMMANDS)}}} [rl-zoo3 arguments, see --help]", file=sys.stderr)
        sys.exit(2)
    command, rest = args[0], args[1:]
    register(inference=command == "enjoy")
    program = f"sb3-wasserstein-zoo {command}"
    if command == "train":
        from rl_zoo3.train import train

        from sb3_wasserstein.zoo import experiment

        experiment.install()
        sys.argv = [program, *rest]
        train()
    else:
        from rl_zoo3.enjoy import enjoy

        sys.argv = [program, *rest]
        enjoy()


if __name__ == "__main__":
    main()
