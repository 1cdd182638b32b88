"""The ``pepr`` command line: score, report, data, audit, zoo, run, sweep, advise and book.

A user's mistake (any :class:`pepr.core.errors.PeprError`) prints one line to stderr and exits 2;
heavy modules are imported only by the command that needs them, so ``pepr --help`` is instant.
``run``, ``sweep``, ``advise`` and ``zoo --rebuild`` need the training side (torch, timm); in the
book-only install they say so in that one line (:func:`pepr.core.errors.require_training_stack`).
"""

from __future__ import annotations

import argparse
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path

from pepr.advice.defaults import (
    ACCURACY_INTERVAL_NAME,
    PROBE_EPOCHS,
    PROBE_FRACTION,
    PROBE_K,
    PROBE_WEIGHT,
)
from pepr.core.errors import (
    BadParameterError,
    DataLossWarning,
    DataWarning,
    PeprError,
    require_training_stack,
)
from pepr.core.settings import ALPHA, RANK_SCORE_NAMES

EXIT_USER_ERROR = 2

#: What ``--by``/``--rank-by`` accept, for the help text; :data:`pepr.score.RANK_SCORES` decides
#: (checked when a command runs, so building the parser imports no pandas).
RANK_SCORES_HELP = ", ".join(list(RANK_SCORE_NAMES)[:-1]) + " or " + list(RANK_SCORE_NAMES)[-1]


def owned_defaults() -> dict[str, object]:
    """Defaults of ``score``/``run``/``sweep`` options that :mod:`pepr.sweep` and
    :mod:`pepr.results` own (the paper's protocol, the results and outputs folders, the
    executor). The parser leaves those options ``None`` and :func:`fill_owned_defaults` sets them
    when a command runs, so building the parser imports neither module."""
    from pepr.execution import sweep
    from pepr.store import results, studies

    spec = studies.SPEC_DEFAULTS
    protocol = ("epochs", "img_size", "batch_size", "lr", "optimizer", "select_metric", "threads")
    return {
        **{key: spec[key] for key in protocol},
        "results_dir": results.DEFAULT_RESULTS_DIR,
        "outputs_dir": sweep.DEFAULT_OUTPUTS_DIR,
        "executor": sweep.EXECUTORS[0],
    }


def fill_owned_defaults(args: argparse.Namespace) -> argparse.Namespace:
    """Set each option of :func:`owned_defaults` that the command line left out."""
    for key, value in owned_defaults().items():
        if hasattr(args, key) and getattr(args, key) is None:
            setattr(args, key, value)
    return args


def cmd_score(args: argparse.Namespace) -> int:
    """Score a study the paper's way, rank the runs within each pool by ``--by`` and write one
    row per run: CSV to ``-o FILE`` (or ``-o -``: stdout), else an aligned table on a terminal
    and CSV when stdout is a pipe."""
    from pepr.scoring import score, verdicts
    from pepr.store import results

    fill_owned_defaults(args)
    check_rank_score(args.by)
    runs = verdicts.with_verdicts(results.load(args.study, args.results_dir), args.study)
    scored = score.add_pepr(runs, performance=args.performance, pool=args.pool)
    kept, aside = (verdicts.keep_above_baseline(scored) if args.above_baseline
                   else (scored, {}))
    ranked = score.rank_within(kept, args.by, args.pool, top=args.top)
    columns = ["rank", "model", "setting", *args.pool, "test_acc", "test_acc_low", "test_acc_high",
               "baseline_acc", "above_baseline", args.performance, args.by,
               *[f"{k.upper()}_n" for k in score.RESOURCES], *[f"pepr_{k}" for k in score.RESOURCES]]
    extra = [c for c in ("run_id", "dataset", "pretrained", "data_fraction", "seed", "num_params",
                         "test_n", "above_baseline_p", "baseline_source") if c in ranked.columns]
    out = ranked[list(dict.fromkeys([*columns, *extra]))]
    if args.output == "-" or (args.output is None and not sys.stdout.isatty()):
        out.to_csv(sys.stdout, index=False)
    elif args.output is None:
        sizes = kept.groupby(list(args.pool), dropna=False).size() if args.pool else len(kept)
        # the terminal keeps what a reader compares; the CSV keeps every column
        hidden = ["above_baseline_p", "baseline_source", "test_n", "run_id", "dataset", "pretrained",
                  "data_fraction", *[f"{k.upper()}_n" for k in score.RESOURCES]]
        shown = out.drop(columns=[c for c in hidden if c in out.columns])
        shown = shown.assign(above_baseline=shown["above_baseline"].map(
            {True: "yes", False: "NO"}).fillna("?"))
        if "num_params" in shown:
            shown = shown.assign(num_params=shown["num_params"] / 1e6)
        shown = shown.rename(columns={"num_params": "M_params", "test_acc": "acc",
                                      "test_acc_low": "low", "test_acc_high": "high",
                                      "baseline_acc": "baseline", "above_baseline": "beats"})
        print(score_table_text(shown, args.pool, sizes))
        print(wrapped(verdict_note(aside, args.above_baseline)))
    else:
        Path(args.output).parent.mkdir(parents=True, exist_ok=True)
        out.to_csv(args.output, index=False)
        print(f"wrote {len(out)} rows to {args.output}", file=sys.stderr)
    return 0


def verdict_note(aside: dict[str, int], filtered: bool) -> str:
    """The line under a terminal ranking that says what ``above_baseline`` means and, with
    ``--above-baseline``, how many runs were set aside."""
    from pepr.scoring import verdicts

    meaning = (f"beats (above_baseline in the CSV): a one-sided exact binomial test (alpha "
               f"{verdicts.ALPHA:g}) against the majority-class rate on the test split ('NO': "
               f"the run does no better than a constant classifier; '?': no baseline); low and "
               f"high: the {verdicts.CONFIDENCE:.0%} {verdicts.INTERVAL_METHOD.capitalize()} "
               f"interval of acc; M_params: parameters in millions")
    if not filtered:
        return meaning + "; --above-baseline ranks only the runs that beat it."
    said = verdicts.set_aside_text(aside)
    return meaning + (f"; {said} (PePR values are those of the whole pool)." if said else
                      "; no run was set aside.")


def check_rank_score(name: str) -> None:
    """Refuse a ranking score that is not one of :data:`pepr.score.RANK_SCORES`."""
    from pepr.scoring import score

    if name not in score.RANK_SCORES:
        raise BadParameterError(f"cannot rank by {name!r}; choose one of {', '.join(score.RANK_SCORES)}")


def score_table_text(frame, pool: Sequence[str], pool_sizes=None) -> str:
    """Ranked scores as aligned text for a terminal: one block per pool under a ``name = value``
    line (the pool's columns left out of the block), numbers to three decimals. ``pool_sizes``
    (a Series by pool, or one number for an empty pool) says how many runs each pool has when
    ``frame`` shows only its best."""
    def count(shown: int, key: object) -> str:
        total = shown if pool_sizes is None else int(pool_sizes if not pool else pool_sizes.loc[key])
        runs = f"{total} run" + ("s" if total != 1 else "")
        return runs if total == shown else f"best {shown} of {runs}"

    if not pool:
        return f"all runs: {count(len(frame), None)}\n" + fit_table(frame)
    blocks = []
    for key, group in frame.groupby(list(pool), sort=False, dropna=False):
        key = key if isinstance(key, tuple) else (key,)
        header = ", ".join(f"{name} = {value}" for name, value in zip(pool, key))
        body = fit_table(group.drop(columns=list(pool)))
        blocks.append(f"{header}: {count(len(group), key if len(key) > 1 else key[0])}\n{body}")
    return "\n\n".join(blocks)


def cmd_report(args: argparse.Namespace) -> int:
    """Execute the report template for one study and convert it to one HTML page."""
    from pepr.reporting import render

    if args.rank_by is not None:
        check_rank_score(args.rank_by)
    options = {"studies_dir": args.studies_dir, "rank_by": args.rank_by, "title": args.title,
               "pool": None if args.pool is None else ",".join(args.pool)}
    report = render.render_report(args.study, results_dir=args.results_dir, output_dir=args.output,
                                  **{name: value for name, value in options.items() if value is not None})
    print(report.notebook)
    print(report.html)
    return 0


def cmd_data(args: argparse.Namespace) -> int:
    """List the registered data files and where each resolves."""
    from pepr.core import paths
    from pepr.data import paper, registry

    if args.register:
        name, path = args.register
        info = registry.register_dataset(name, path, kind=args.kind, licence=args.licence,
                                         notes=args.notes)
        print(f"registered {info.name!r} ({info.kind}, {info.task}, {info.num_classes} classes, "
              f"{info.n_samples}) in {paths.datasets_file()}")
        return 0
    if args.unregister:
        registry.unregister_dataset(args.unregister)
        print(f"{args.unregister!r} is not in {paths.datasets_file()} any more")
        return 0
    if args.images:
        table = registry.image_inventory()
        if not args.all:
            table = table[table["location"] != paper.NOT_ON_DISK]
        print(fit_table(registry.list_datasets().drop(columns=["license", "source"])))
        print()
    else:
        table = paper.data_inventory()
    print(fit_table(table))
    return 0


def wrapped(text: str, indent: str = "") -> str:
    """Prose wrapped to the terminal's width (at most 100 columns); continued lines indented."""
    import textwrap

    from pepr.reporting import terminal

    return textwrap.fill(text, width=min(terminal.terminal_width(), 100), subsequent_indent=indent)


def fit_table(frame, floatfmt: str = ".3f") -> str:
    """A table for the terminal, fitted to its width (:func:`pepr.reporting.terminal.fit_table`)."""
    from pepr.reporting import terminal

    return terminal.fit_table(frame, floatfmt=floatfmt)


def cmd_audit(args: argparse.Namespace) -> int:
    """Print the data-quality audit of the official release."""
    import json

    from pepr.store import results

    print(json.dumps(results.audit_paper(), indent=2, default=str))
    return 0


def cmd_book(args: argparse.Namespace) -> int:
    """Build the Jupyter Book; any warning (a failed cell, a missing glue key) fails the build."""
    from pepr.reporting import book

    book.build_book(args.root, output=args.output, strict=not args.no_strict, clean=args.clean)
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    """Validate one run, execute the training notebook for it and report its row."""
    require_training_stack("pepr run")
    from pepr.execution import sweep
    from pepr.store import results, runspec

    fill_owned_defaults(args)
    results.check_writable(args.results_dir, args.study)
    results.check_writable(args.outputs_dir, args.study)
    from pepr.training import nets

    spec = runspec.make_run_spec(
        args.model, args.dataset, min_img_size=nets.min_img_size, study=args.study, pretrained=args.pretrained,
        data_fraction=args.data_fraction, seed=args.seed, img_size=args.img_size,
        epochs=args.epochs, batch_size=args.batch_size, optimizer=args.optimizer, lr=args.lr,
        select_metric=args.select_metric, threads=args.threads,
    )
    cell = spec.cell()
    sweep.validate_cell(cell, build_model=True)
    status = sweep.execute_cell(cell, results_dir=args.results_dir, outputs_dir=args.outputs_dir,
                                figures=not args.no_figures)
    table = results.study_dir(args.study, args.results_dir) / "runs.csv"
    runs = results.read_table(table, results.RUN_COLUMNS)
    row = runs[runs["run_id"] == spec.run_id].iloc[-1]
    if status == "ok":
        print(f"{spec.run_id} ok: test_acc={row['test_acc']:.4f} "
              f"train_time_s={row['train_time_s']:.1f} energy_kwh={row['energy_kwh']:.3g} "
              f"({row['energy_method']}, {row['energy_scope']}) -> {table}")
        return 0
    print(f"{spec.run_id} failed: {row['error']}", file=sys.stderr)
    return 1


def cmd_sweep(args: argparse.Namespace) -> int:
    """Run every missing cell of a study file."""
    require_training_stack("pepr sweep")
    from pepr.execution import sweep

    fill_owned_defaults(args)
    summary = sweep.run_sweep(args.spec, results_dir=args.results_dir, executor=args.executor,
                              workers=args.workers, scheduler=args.scheduler,
                              outputs_dir=args.outputs_dir, progress=not args.no_progress,
                              figures=not args.no_figures)
    print(summary)
    return 0 if summary.failed == 0 else 1


NO_FIGURES_HELP = ("the executed notebook draws no figures (the rows are the same; the epochs "
                   "table keeps the curves): less fixed cost per run")


def _register_run_and_sweep(commands: argparse._SubParsersAction) -> None:
    """Add ``pepr run`` and ``pepr sweep``; options left ``None`` get :func:`owned_defaults`."""
    run_parser = commands.add_parser("run",
                                     help="train one model on one dataset (one results row)")
    run_parser.add_argument("--model", required=True, help="a zoo/timm model name")
    run_parser.add_argument("--dataset", required=True, help="a registered dataset or a path")
    run_parser.add_argument("--epochs", type=int, default=None, help="training epochs (default: the paper's protocol)")
    run_parser.add_argument("--img-size", default=None, help="pixels, or 'auto' (zoo's minimum)")
    run_parser.add_argument("--pretrained", default="false", help="false, true or a checkpoint path")
    run_parser.add_argument("--data-fraction", type=float, default=1.0,
                            help="share of the training split, stratified by class (default 1.0)")
    run_parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    run_parser.add_argument("--batch-size", type=int, default=None, help="images per step (default: the paper's protocol)")
    run_parser.add_argument("--lr", type=float, default=None, help="learning rate (default: the paper's protocol)")
    run_parser.add_argument("--optimizer", default=None, help="optimizer name (default: the paper's protocol)")
    run_parser.add_argument("--select-metric", default=None, help="validation metric for selection")
    run_parser.add_argument("--study", default="adhoc",
                            help="the study whose table gets the row (default adhoc)")
    run_parser.add_argument("--results-dir", default=None, help="where studies live")
    run_parser.add_argument("--outputs-dir", default=None, help="executed notebooks go here")
    run_parser.add_argument("--threads", type=int, default=None,
                            help="torch/OpenMP threads (default: 1)")
    run_parser.add_argument("--no-figures", action="store_true", help=NO_FIGURES_HELP)
    run_parser.set_defaults(handler=cmd_run)

    sweep_parser = commands.add_parser("sweep", help="run a study's grid (skips runs already ok)")
    sweep_parser.add_argument("spec", help="a study file, e.g. data/studies/pilot.yml")
    sweep_parser.add_argument("--results-dir", default=None, help="where studies live")
    sweep_parser.add_argument("--outputs-dir", default=None, help="executed notebooks go here")
    sweep_parser.add_argument("--executor", default=None, help="inline (default), processes or dask")
    sweep_parser.add_argument("--workers", type=int, default=1,
                              help="runs at once with --executor processes or dask (default 1)")
    sweep_parser.add_argument("--scheduler", default=None, help="address of a running Dask scheduler")
    sweep_parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    sweep_parser.add_argument("--no-figures", action="store_true", help=NO_FIGURES_HELP)
    sweep_parser.set_defaults(handler=cmd_sweep)


def cmd_zoo(args: argparse.Namespace) -> int:
    """Print the model zoo; with ``--rebuild`` measure it again and write ``data/zoo.csv``."""
    from pepr.data import zoo
    from pepr.training import nets

    if args.rebuild:
        require_training_stack("pepr zoo --rebuild")
        table = nets.build_zoo_table(models=args.models or None, progress=True)
        output = args.output or (None if args.models else str(zoo.ZOO_CSV))
        if output:
            zoo.write_zoo_table(table, output)
            print(f"wrote {len(table)} models to {output}", file=sys.stderr)
    else:
        table = zoo.load_zoo()
        if args.models:
            table = table[table["model"].isin(args.models)]
        if args.output:
            table.to_csv(args.output, index=False)
            print(f"wrote {len(table)} models to {args.output}", file=sys.stderr)
    shown = ["model", "timm_name", "family", "type", "efficient", "num_params", "min_img_size",
             "needs_img_size_arg", "flops_per_image_at_min"]
    print(fit_table(table[shown].rename(columns={
        "num_params": "params", "min_img_size": "min px", "needs_img_size_arg": "size arg",
        "flops_per_image_at_min": "FLOPs/image"}), floatfmt=".0f"))
    return 0


#: ``pepr advise --help``: what it does, in the order it does it (its settings from
#: :mod:`pepr.advise_defaults`, so building the parser imports no pandas).
ADVISE_DESCRIPTION = f"""\
Which zoo model to train on a dataset, on this machine, within a budget.

1. Calibrate: a few training steps of reference models here, fitted against the reference
   study's measured time per image (seconds; the energy meter runs over the same steps).
2. Predict each model's run here: time, energy and memory; drop those over the budget.
3. Expect each model's accuracy: the dataset's majority-class rate (from its test labels)
   plus the skill above chance the model showed in the measured settings of other datasets,
   with a {ACCURACY_INTERVAL_NAME} interval; rank by expected PePR (accuracy / (1 + normalised
   resource)).
4. Train down the list: keep the first run whose validation accuracy beats the majority
   class (the bar is printed under the table: a one-sided exact binomial test at alpha
   {ALPHA:g} on the validation split); the backtest compares this rule with training the
   first alone.
5. With --probe [K]: train the first K (default {PROBE_K}) briefly on the data
   (--probe-fraction of the planned training data, itself --data-fraction of the training
   split; --probe-epochs epochs, default {PROBE_EPOCHS}; each at the size it would run at), the
   defaults the backtest's grid of simulated probes found best. Only a probe that beats the
   majority class on validation moves its model: those go first, ordered by the PePR of
   expected accuracy + {PROBE_WEIGHT:g} x (the probe's validation accuracy - their mean); the
   others keep their places and a failed probe goes last. What the probe cost (seconds,
   energy by the meter's method) is printed, and each probed row's `why` gives its validation
   accuracy with its standard error.

How well steps 2-5 do is backtested on the reference study (each dataset held out in turn):
benchmarks/advise_backtest.py and the book's chapter "Which model should I train?".
"""


def cmd_advise(args: argparse.Namespace) -> int:
    """Rank the zoo's models for a dataset on this machine, within a budget: calibrate this
    machine (:func:`pepr.training.trials.calibrate`), advise (:func:`pepr.advice.advise.advise`)
    and, with ``--probe K``, train the first K briefly and re-rank them
    (:func:`pepr.training.trials.probe`)."""
    require_training_stack("pepr advise")
    from pepr.advice import advise
    from pepr.data import registry
    from pepr.training import trials

    if args.probe < 0:
        raise BadParameterError(f"--probe must be 0 or more (got {args.probe})")
    info = registry.get_dataset_info(args.dataset)
    advise.check_request(args.rank_by, args.budget_hours, args.budget_kwh)
    calibration = trials.calibrate(advise.reference_speeds(), info.in_chans, info.num_classes,
                                   progress=not args.no_progress)
    advice = advise.advise(args.dataset, calibration=calibration, budget_hours=args.budget_hours,
                           budget_kwh=args.budget_kwh, img_size=args.img_size,
                           data_fraction=args.data_fraction, epochs=args.epochs, top=args.top,
                           rank_by=args.rank_by)
    if args.probe and len(advice.table):
        advice = trials.probe(
            advice, args.dataset, args.probe,
            data_fraction=args.probe_fraction * args.data_fraction, epochs=args.probe_epochs,
            progress=not args.no_progress)
    table = advise.advice_frame(advice)
    if args.output:
        Path(args.output).parent.mkdir(parents=True, exist_ok=True)
        table.to_csv(args.output, index=False)
        print(f"wrote {len(table)} rows to {args.output}", file=sys.stderr)
    shown = table.assign(minutes=table["predicted_time_s"] / 60,
                         wh=table["predicted_energy_kwh"] * 1000)
    probed = ["probe_val_acc", "probed_pepr"] if advice.probe is not None else []
    shown = shown[["rank", "model", "img_size", "minutes", "wh", "predicted_mem_gb",
                   "expected_acc", "expected_acc_low", "expected_acc_high", "expected_pepr",
                   *probed, "why"]]
    shown = shown.rename(columns={"minutes": "time (min)", "wh": "energy (Wh)",
                                  "predicted_mem_gb": "memory (GB)", "expected_acc": "acc.",
                                  "expected_acc_low": "low", "expected_acc_high": "high",
                                  "expected_pepr": "PePR", "probe_val_acc": "probe acc.",
                                  "probed_pepr": "probed PePR"})
    print(fit_table(shown))
    calibration = advice.calibration
    print(f"\ncalibration: {len(calibration.points)} models in {calibration.seconds:.0f} s; this "
          f"machine's s/image = exp({calibration.intercept:.2f}) x reference^{calibration.slope:.2f}")
    for note in advice.notes:
        print(wrapped(f"- {note}", indent="  "))
    print(f"{len(advice.excluded)} models left out (over the budget, or no accuracy to go on)")
    if len(table):
        best = table.iloc[0]
        print(f"\ntrain the first (then the next, until one clears the validation bar): "
              f"pepr run --model {best['model']} --dataset {args.dataset} "
              f"--img-size {int(best['img_size'])}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="pepr", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    score_parser = commands.add_parser("score", help="PePR-E/C/T/M of every run of a study")
    score_parser.add_argument("study", help="a study name; 'paper' is the official release")
    score_parser.add_argument("-o", "--output", default=None,
                              help="CSV file to write ('-': CSV on stdout; default: a table on a "
                                   "terminal, CSV into a pipe)")
    score_parser.add_argument("--results-dir", default=None, help="where studies live")
    score_parser.add_argument("--performance", default="test_acc",
                              help="performance column P: test_acc (default), or skill, the "
                                   "accuracy above the majority-class baseline, (acc - b) / (1 - b) "
                                   "clipped at 0, which scores a constant classifier 0")
    score_parser.add_argument("--above-baseline", action="store_true",
                              help="rank only the runs whose test accuracy beats the majority-class "
                                   f"baseline (one-sided exact binomial test, alpha {ALPHA:g}); their "
                                   "PePR values stay those of the whole pool")
    score_parser.add_argument("--pool", nargs="*", default=["setting"],
                              help="columns whose groups are normalised and ranked apart "
                                   "(default: setting; none: all runs together)")
    score_parser.add_argument("--by", default="pepr_e", metavar="SCORE",
                              help=f"rank within each pool by {RANK_SCORES_HELP} (default: pepr_e)")
    score_parser.add_argument("--top", type=int, default=None, metavar="N",
                              help="only the N best runs of each pool (a tie at the cut keeps all)")
    score_parser.set_defaults(handler=cmd_score)

    report_parser = commands.add_parser("report", help="one study's report: executed notebook and HTML page")
    report_parser.add_argument("study", help="a study name under the results folder ('paper' too)")
    report_parser.add_argument("--results-dir", default=None, help="where studies live")
    report_parser.add_argument("--studies-dir", default=None, help="where study files (<study>.yml) live")
    report_parser.add_argument("--output", default=None,
                               help="write OUTPUT/<study>/report.{ipynb,html} (default: outputs/reports)")
    report_parser.add_argument("--rank-by", default=None, metavar="SCORE",
                               help=f"rank runs by {RANK_SCORES_HELP} (default: the template's, pepr_e)")
    report_parser.add_argument("--pool", nargs="*", default=None,
                               help="columns whose groups are normalised apart (default: setting)")
    report_parser.add_argument("--title", default=None, help="the report's title (default: from the study)")
    report_parser.set_defaults(handler=cmd_report)

    data_parser = commands.add_parser("data", help="list registered data and where it resolves")
    data_parser.add_argument("--images", action="store_true",
                             help="image datasets and the MedMNIST files on disk instead")
    data_parser.add_argument("--all", action="store_true",
                             help="with --images: every official MedMNIST file, also absent ones")
    data_parser.add_argument("--register", nargs=2, metavar=("NAME", "PATH"),
                             help="give your .npz or image folder a name that every command "
                                  "knows (written to data/datasets.yml)")
    data_parser.add_argument("--kind", default=None, help="with --register: npz or folder "
                                                         "(default: guessed from the path)")
    data_parser.add_argument("--licence", default="", help="with --register: the data's licence")
    data_parser.add_argument("--notes", default="", help="with --register: what a reader should know")
    data_parser.add_argument("--unregister", metavar="NAME", help="remove a registered name")
    data_parser.set_defaults(handler=cmd_data)

    audit_parser = commands.add_parser("audit", help="data-quality audit of the official release")
    audit_parser.set_defaults(handler=cmd_audit)

    book_parser = commands.add_parser("book", help="build the Jupyter Book (fails on any warning)")
    book_parser.add_argument("--root", default=".", help="the folder with _config.yml and _toc.yml")
    book_parser.add_argument("--output", default=None, help="build into OUTPUT/_build instead of ROOT/_build")
    book_parser.add_argument("--no-strict", action="store_true", help="do not fail on warnings")
    book_parser.add_argument("--clean", action="store_true", help="remove _build first (re-executes everything)")
    book_parser.set_defaults(handler=cmd_book)

    zoo_parser = commands.add_parser("zoo", help="the model zoo: names, parameters, input sizes")
    zoo_parser.add_argument("--rebuild", action="store_true",
                            help="measure every model again (meta device) and write the table")
    zoo_parser.add_argument("-o", "--output", default=None,
                            help="CSV file to write (with --rebuild: default data/zoo.csv)")
    zoo_parser.add_argument("--models", nargs="*", default=None,
                            help="only these paper models (with --rebuild: printed, written only "
                                 "with -o)")
    zoo_parser.set_defaults(handler=cmd_zoo)

    _register_run_and_sweep(commands)

    advise_parser = commands.add_parser(
        "advise", help="which model to train on a dataset, on this machine, within a budget",
        description=ADVISE_DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    advise_parser.add_argument("--dataset", required=True, help="a registered dataset or a path")
    advise_parser.add_argument("--budget-hours", type=float, default=None,
                               help="drop models predicted to train longer than this")
    advise_parser.add_argument("--budget-kwh", type=float, default=None,
                               help="drop models predicted to use more energy than this")
    advise_parser.add_argument("--img-size", type=int, default=None,
                               help="input size (default: each model's smallest)")
    advise_parser.add_argument("--data-fraction", type=float, default=1.0,
                               help="share of the training split a run would train on (default 1.0)")
    advise_parser.add_argument("--epochs", type=int, default=10,
                               help="epochs a run would train for (default 10)")
    advise_parser.add_argument("--top", type=int, default=10, help="how many to list")
    advise_parser.add_argument("--rank-by", default="energy", help="energy, time or memory")
    advise_parser.add_argument("--probe", type=int, nargs="?", const=PROBE_K, default=0, metavar="K",
                               help="train the first K candidates briefly on the data and re-rank "
                                    f"them (K alone: {PROBE_K}; default 0: no probe)")
    advise_parser.add_argument("--probe-fraction", type=float, default=PROBE_FRACTION,
                               help="share of the (planned) training data a probe trains on "
                                    "(default %(default)s)")
    advise_parser.add_argument("--probe-epochs", type=int, default=PROBE_EPOCHS,
                               help="epochs of a probe (default %(default)s)")
    advise_parser.add_argument("-o", "--output", default=None, help="also write the table as CSV")
    advise_parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    advise_parser.set_defaults(handler=cmd_advise)
    return parser


def show_data_warnings_in_one_line() -> None:
    """Print each :class:`~pepr.core.errors.DataWarning` as one ``pepr: note:`` line on stderr,
    ``pepr: warning:`` where data was lost (:class:`~pepr.core.errors.DataLossWarning`); Python's
    default adds the file, line and source of the call. Other warnings as before."""
    default = warnings.showwarning

    def show(message, category, filename, lineno, file=None, line=None):
        if issubclass(category, DataWarning):
            kind = "warning" if issubclass(category, DataLossWarning) else "note"
            print(f"pepr: {kind}: {message}", file=sys.stderr)
        else:
            default(message, category, filename, lineno, file, line)

    warnings.showwarning = show


#: What a user should know after interrupting a command (Ctrl-C, or SIGTERM for ``sweep``).
INTERRUPT_HINTS: dict[str, str] = {
    "sweep": "its runs were stopped; the finished ones are saved, and the same command resumes the rest",
}


def quiet_closed_stdout() -> None:
    """Point stdout at /dev/null once its reader has gone, so that Python's flush at exit
    raises no second BrokenPipeError (the recipe of Python's signal documentation)."""
    import os

    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())


def error_text(message: str) -> str:
    """An error as the reader sees it: one line for a log or a pipe (easy to grep), wrapped to
    the width of a terminal, continued lines indented."""
    return wrapped(message, indent="    ") if sys.stderr.isatty() else message


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    show_data_warnings_in_one_line()
    try:
        return int(args.handler(args) or 0)
    except BrokenPipeError:  # the reader went away (`pepr score paper | head`): a quiet exit
        quiet_closed_stdout()
        return 0
    except PeprError as error:
        print(error_text(f"pepr {args.command}: error: {error}"), file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        hint = INTERRUPT_HINTS.get(args.command)
        print(f"pepr {args.command}: interrupted" + (f"; {hint}" if hint else ""), file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
