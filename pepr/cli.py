"""The ``pepr`` command line: ``pepr score``, ``pepr data``, ``pepr zoo``, ``pepr run``,
``pepr sweep`` and ``pepr book``.

A user's mistake (any :class:`pepr.errors.PeprError`) prints one line to stderr and exits 2;
heavy modules are imported only by the command that needs them, so ``pepr --help`` is instant.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from pepr.errors import PeprError

EXIT_USER_ERROR = 2


def cmd_score(args: argparse.Namespace) -> int:
    """Score a study the paper's way and write one row per run."""
    from pepr import results, score

    runs = results.load(args.study, args.results_dir)
    scored = score.add_pepr(runs, performance=args.performance, pool=args.pool)
    columns = ["model", "setting", args.performance, *[f"{k.upper()}_n" for k in score.RESOURCES],
               *[f"pepr_{k}" for k in score.RESOURCES]]
    extra = [c for c in ("run_id", "dataset", "pretrained", "data_fraction", "seed", "num_params")
             if c in scored.columns]
    out = scored[[*columns, *extra]]
    if args.output == "-":
        out.to_csv(sys.stdout, index=False)
    else:
        Path(args.output).parent.mkdir(parents=True, exist_ok=True)
        out.to_csv(args.output, index=False)
        print(f"wrote {len(out)} rows to {args.output}", file=sys.stderr)
    return 0


def cmd_data(args: argparse.Namespace) -> int:
    """List the registered data files and where each resolves."""
    from pepr import datasets

    table = datasets.data_inventory()
    with_pandas_display(lambda: print(table.to_string(index=False)))
    return 0


def with_pandas_display(action: Callable[[], None]) -> None:
    import pandas as pd

    with pd.option_context("display.max_colwidth", 80, "display.width", 200):
        action()


def cmd_audit(args: argparse.Namespace) -> int:
    """Print the data-quality audit of the official release."""
    import json

    from pepr import results

    print(json.dumps(results.audit_paper(), indent=2, default=str))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="pepr", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    score_parser = commands.add_parser("score", help="PePR-E/C/T/M of every run of a study")
    score_parser.add_argument("study", help="a study name; 'paper' is the official release")
    score_parser.add_argument("-o", "--output", default="-", help="CSV file to write ('-': stdout)")
    score_parser.add_argument("--results-dir", default="data/results", help="where studies live")
    score_parser.add_argument("--performance", default="test_acc", help="performance column P")
    score_parser.add_argument("--pool", nargs="*", default=["setting"],
                              help="columns whose groups are normalised apart (default: setting)")
    score_parser.set_defaults(handler=cmd_score)

    data_parser = commands.add_parser("data", help="list registered data and where it resolves")
    data_parser.set_defaults(handler=cmd_data)

    audit_parser = commands.add_parser("audit", help="data-quality audit of the official release")
    audit_parser.set_defaults(handler=cmd_audit)

    for register in _EXTRA_COMMANDS:
        register(commands)
    return parser


#: Functions that add further sub-commands (``zoo``, ``run``, ``sweep``, ``book``), each kept
#: beside the code it drives.
_EXTRA_COMMANDS: list[Callable[[argparse._SubParsersAction], None]] = []


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.handler(args) or 0)
    except PeprError as error:
        print(f"pepr {args.command}: error: {error}", file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        print(f"pepr {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
