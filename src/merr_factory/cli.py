"""``merr-build``: the command line. Thin: it parses options and maps errors to exit codes.

Exit codes: 0 all good; 1 the run finished but some samples failed (``verify``: some records
are damaged); 2 bad usage, config or input, or the output is in use by another run; 3 the
output could not be written (no space, no permission): the run stopped; 130 and 143 (128 +
the signal's number) stopped by SIGINT (Ctrl-C) or SIGTERM (SLURM, systemd, Kubernetes): the
summary says what was finished.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer

from merr_factory import __version__
from merr_factory.config import Config, ConfigError, config_as_yaml, load_config
from merr_factory.curation.review_log import ReviewLogError
from merr_factory.faults import OutputError, writing_output
from merr_factory.inputs.discovery import DiscoveryError
from merr_factory.inputs.labels import LabelFileError
from merr_factory.logs import PACKAGE_LOGGER, add_log_file, setup_console_logging
from merr_factory.registry import STAGE_NAMES, STAGES
from merr_factory.run.atomic import write_text_atomic
from merr_factory.run.workspace import SelectionError, Shard, Workspace, open_workspace

if TYPE_CHECKING:
    from merr_factory.run.output_lock import OutputLock
    from merr_factory.run.pipeline import RunOptions, RunSummary, StopRequest

# Above: what every command needs (loading a config imports the stages, the store and the
# workspace anyway). Each command imports the rest itself (the runner, the reports, the
# export's report, the review app): ``merr-build review`` opens in under 2 s over 100,000
# samples (docs/users/review.md), and it needs none of the others.

log = logging.getLogger("merr_factory.cli")

EXIT_FAILURES = 1
EXIT_USAGE = 2
EXIT_OUTPUT = 3
EXIT_SIGNAL = 128  # + the signal's number: 130 SIGINT, 143 SIGTERM (as a shell reports it)
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)
# After a stop, computations on threads of this process (which cannot be ended) get this
# long to finish; then the process leaves without them, as if killed.
STOP_GRACE_S = 3.0

app = typer.Typer(
    help="Build MERR-style multimodal emotion reasoning datasets from raw clips.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

ConfigOption = Annotated[Path, typer.Option("--config", "-c", help="YAML config file.")]
InputOption = Annotated[
    Path | None, typer.Option("--input", help="Clip folder or list file (overrides config).")
]
LabelsOption = Annotated[
    Path | None, typer.Option("--labels", help="Label CSV (overrides config).")
]
OutputOption = Annotated[
    Path | None, typer.Option("--output", help="Output folder (overrides config).")
]
ForceOption = Annotated[
    bool, typer.Option("--force", help="Recompute even outputs that are current.")
]
LimitOption = Annotated[
    int | None, typer.Option("--limit", min=1, help="Only the first N samples (by id).")
]
SamplesOption = Annotated[
    str | None, typer.Option("--samples", help="Only these sample ids, comma-separated.")
]
ShardOption = Annotated[
    str | None, typer.Option("--shard", help="Only shard i of n (0-based), e.g. 0/4.")
]
StagesOption = Annotated[
    str | None, typer.Option("--stages", help="Only these stages, comma-separated.")
]
QuietOption = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars; logs only.")]
VerboseOption = Annotated[bool, typer.Option("--verbose", "-v", help="Log every sample's outcome.")]


def _fail(message: str) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(EXIT_USAGE)


def _split(text: str | None) -> list[str]:
    return [part.strip() for part in (text or "").split(",") if part.strip()]


def _load(config: Path, input_: Path | None, labels: Path | None, output: Path | None) -> Config:
    try:
        return load_config(config, {"input": input_, "labels": labels, "output": output})
    except ConfigError as error:
        raise _fail(str(error)) from None


def _shared_options() -> list[inspect.Parameter]:
    """--config, --input, --labels, --output: what every command that reads a run takes.

    Annotations are the objects, not their names: typer reads a signature's annotations as
    they are (a name there is no option)."""
    kind = inspect.Parameter.POSITIONAL_OR_KEYWORD
    return [
        inspect.Parameter("config", kind, annotation=ConfigOption),
        inspect.Parameter("input", kind, default=None, annotation=InputOption),
        inspect.Parameter("labels", kind, default=None, annotation=LabelsOption),
        inspect.Parameter("output", kind, default=None, annotation=OutputOption),
    ]


def takes_config(command: Callable[..., None]) -> Callable[..., None]:
    """``command(config: Config, ...)`` as a command with the shared options, loaded into
    one ``Config`` (a refused config: exit 2 with one line)."""
    signature = inspect.signature(command, eval_str=True)
    own = [p for p in signature.parameters.values() if p.name != "config"]

    @functools.wraps(command)
    def with_options(
        config: Path,
        input: Path | None = None,
        labels: Path | None = None,
        output: Path | None = None,
        **rest: Any,
    ) -> None:
        command(_load(config, input, labels, output), **rest)

    parameters = [*_shared_options(), *own]
    with_options.__signature__ = inspect.Signature(parameters)  # type: ignore[attr-defined]
    with_options.__annotations__ = {p.name: p.annotation for p in parameters}
    return with_options


def _choose_stages(requested: list[str]) -> list[str]:
    """The stages to run, in pipeline order (all of them when none are named)."""
    for name in requested:
        if name not in STAGE_NAMES:
            raise _fail(f"unknown stage {name!r}; stages are: {', '.join(STAGE_NAMES)}")
    return [name for name in STAGE_NAMES if not requested or name in requested]


def _options(
    stages: list[str],
    force: bool,
    limit: int | None,
    samples: str | None,
    shard: str | None,
    quiet: bool,
) -> RunOptions:
    from merr_factory.run.pipeline import RunOptions

    try:
        parsed = Shard.parse(shard) if shard else None
    except SelectionError as error:
        raise _fail(str(error)) from None
    return RunOptions(
        stages=stages,
        sample_ids=_split(samples),
        limit=limit,
        shard=parsed,
        force=force,
        progress=not quiet,
    )


def _stop(error: OutputError) -> typer.Exit:
    """The one line that says which file of the output could not be written, and why."""
    log.error("%s; the run stopped (exit status %d)", error, EXIT_OUTPUT)
    return typer.Exit(EXIT_OUTPUT)


def _execute(config: Config, options: RunOptions) -> None:
    from merr_factory.reports.run_report import render_summary
    from merr_factory.run.pipeline import StopRequest

    started = datetime.now(timezone.utc)
    run_name = _run_name(started, options)
    stop = StopRequest()
    with _stopping_on_signals(stop):
        claim = _Claim.take(config.output, options.shard, run_name)
        try:
            try:
                workspace = _accepted(config, options)
            except BaseException:
                claim.undo()  # a refused run leaves the output as it was
                raise
            summary = _run(config, options, workspace, stop, claim)
            typer.echo(render_summary(summary))
            _keep_summary(summary, workspace, config.output / "runs" / f"{run_name}.json", started)
        finally:
            claim.release()
        if summary.signal:
            _leave(EXIT_SIGNAL + signal.Signals[summary.signal])
    if summary.stopped:
        raise typer.Exit(EXIT_OUTPUT)
    if summary.failed:
        raise typer.Exit(EXIT_FAILURES)


def _run(
    config: Config, options: RunOptions, workspace: Workspace, stop: StopRequest, claim: _Claim
) -> RunSummary:
    """Run the accepted workspace; the log file ends with the run."""
    from merr_factory.reports.run_report import render_summary
    from merr_factory.run.pipeline import Runner

    try:
        # Only now that the arguments and inputs are accepted: nothing above wrote anything
        # but the lock and the log (removed again on refusal), so a refused run leaves the
        # output as it was.
        write_text_atomic(config.output / "config.resolved.yaml", config_as_yaml(config))
        log.info(
            "merr-build %s: %d samples from %s; stages: %s; output: %s",
            __version__,
            len(workspace.samples),
            config.input,
            ", ".join(options.stages),
            config.output_url or config.output,
        )
        summary = Runner(workspace, options, stop).run()
        log.debug("summary:\n%s", render_summary(summary))
        if summary.signal:
            _say_stopped(summary)
        elif summary.stopped:
            log.error("%s; the run stopped (exit status %d)", summary.stopped, EXIT_OUTPUT)
        return summary
    except SelectionError as error:
        raise _fail(str(error)) from None
    except OutputError as error:  # before the run: config.resolved.yaml
        raise _stop(error) from None
    finally:
        claim.end_log()


def _say_stopped(summary: RunSummary) -> None:
    """The one line after a stop by a signal: what was finished, and how to go on."""
    assert summary.signal is not None
    computed = ", ".join(f"{tally.stage} {tally.computed}" for tally in summary.tallies)
    failed = f", {summary.failed} failed" if summary.failed else ""
    log.warning(
        "stopped by %s after %.1f s: this run computed %s (of %d samples%s), all kept; run "
        "the same command again to compute the rest (exit status %d)",
        summary.signal,
        summary.seconds,
        computed,
        summary.samples,
        failed,
        EXIT_SIGNAL + signal.Signals[summary.signal],
    )


@contextlib.contextmanager
def _stopping_on_signals(stop: StopRequest) -> Iterator[None]:
    """While a run is on, SIGTERM and SIGINT ask it to stop (``StopRequest``): it ends its
    workers, writes its summary and exits with 128 + the signal's number. A second signal
    ends the process at once (its work in flight is redone next run, as after a kill)."""
    if threading.current_thread() is not threading.main_thread():
        yield  # only the main thread may handle signals
        return

    def handle(number: int, frame: object) -> None:
        name = signal.Signals(number).name
        if stop.reason is not None:
            os.write(2, f"{name} again: leaving at once\n".encode())
            os._exit(EXIT_SIGNAL + number)
        stop.reason = name

    previous = {number: signal.signal(number, handle) for number in STOP_SIGNALS}
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


def _leave(code: int) -> NoReturn:
    """Exit with ``code`` once the computations still on threads of this process have
    finished: they get ``STOP_GRACE_S``, then the process leaves without them (as if
    killed: nothing half-written is ever trusted, and the next run redoes them)."""
    deadline = time.monotonic() + STOP_GRACE_S
    for thread in _other_threads():
        thread.join(max(0.0, deadline - time.monotonic()))
    if _other_threads():
        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    raise typer.Exit(code)


def _other_threads() -> list[threading.Thread]:
    """The threads the interpreter would wait for at exit, besides this one."""
    return [
        thread
        for thread in threading.enumerate()
        if thread is not threading.current_thread() and not thread.daemon and thread.is_alive()
    ]


def _keep_summary(summary: RunSummary, workspace: Workspace, path: Path, started: datetime) -> None:
    """Save the run summary; after an output error that may fail too (said in one line)."""
    from merr_factory.reports.run_report import save_summary

    try:
        saved = save_summary(summary, path, started)
        workspace.store.keep_copy(saved, f"runs/{saved.name}")
    except OutputError as error:
        log.error("the run summary was not written: %s", error)


def _accepted(config: Config, options: RunOptions) -> Workspace:
    """The workspace, once the input, the labels and the sample selection are all accepted."""
    workspace = _open(config)
    try:
        workspace.select(options.sample_ids, options.limit, options.shard)
    except SelectionError as error:
        raise _fail(str(error)) from None
    return workspace


class _Claim:
    """What a run puts in its output before its inputs are accepted: the folder (and the
    parents it lacked), the lock (one writer per output: ``output_lock.py``) and the log
    file. ``undo`` takes it all back (a refused run), ``release`` lets go of the lock."""

    def __init__(self, lock: OutputLock, created: list[Path], log_file: Path) -> None:
        self.lock = lock
        self.created = created
        self.log_file = log_file
        self.new_log = not log_file.exists()  # a run in the same second reuses it
        self.handler: logging.Handler | None = None

    @classmethod
    def take(cls, output: Path, shard: Shard | None, run_name: str) -> _Claim:
        """Claim ``output``; refused (exit 2) while another run writes there."""
        from merr_factory.run.output_lock import OutputBusy, OutputLock

        lock = OutputLock(output, (shard.index, shard.count) if shard else None)
        claim = cls(lock, _missing_folders(output), output / "logs" / f"{run_name}.log")
        try:
            with writing_output(output):
                output.mkdir(parents=True, exist_ok=True)
            lock.acquire()
            claim.handler = add_log_file(claim.log_file)
        except OutputBusy as error:
            claim.undo()
            raise _fail(str(error)) from None
        except OutputError as error:
            claim.undo()
            raise _stop(error) from None
        return claim

    def end_log(self) -> None:
        if self.handler is not None:
            logging.getLogger(PACKAGE_LOGGER).removeHandler(self.handler)
            self.handler.close()
            self.handler = None

    def release(self) -> None:
        self.end_log()
        self.lock.release()

    def undo(self) -> None:
        """Take back the log file, the lock and the folders made for them (left empty)."""
        self.release()
        if self.new_log:
            with contextlib.suppress(OSError):
                self.log_file.unlink()
        for folder in [self.log_file.parent, *self.created]:
            with contextlib.suppress(OSError):
                folder.rmdir()  # only when empty: never removes anything else


def _missing_folders(folder: Path) -> list[Path]:
    """``folder`` and its parents that do not exist yet, deepest first (``_Claim.undo``)."""
    missing = []
    while not folder.exists():
        missing.append(folder)
        folder = folder.parent
    return missing


def _run_name(started: datetime, options: RunOptions) -> str:
    """Unique per run, also when several shards write to one output folder at once."""
    shard = f"-shard{options.shard.index}of{options.shard.count}" if options.shard else ""
    return f"{started.strftime('%Y%m%dT%H%M%S')}{shard}-{os.getpid()}"


def _open(config: Config) -> Workspace:
    try:
        return open_workspace(config)
    except (DiscoveryError, LabelFileError) as error:
        raise _fail(str(error)) from None


@app.command()
@takes_config
def run(
    config: Config,
    stages: StagesOption = None,
    force: ForceOption = False,
    limit: LimitOption = None,
    samples: SamplesOption = None,
    shard: ShardOption = None,
    quiet: QuietOption = False,
    verbose: VerboseOption = False,
) -> None:
    """Run the pipeline: every stage, skipping outputs that are already current."""
    setup_console_logging(verbose)
    chosen = _choose_stages(_split(stages))
    _execute(config, _options(chosen, force, limit, samples, shard, quiet))


def _add_stage_command(name: str, summary: str) -> None:
    """``merr-build <stage>``: ``run --stages <stage>``, with every other option of ``run``."""

    def command(**options: Any) -> None:
        run(stages=name, **options)

    parameters = [p for p in inspect.signature(run).parameters.values() if p.name != "stages"]
    command.__signature__ = inspect.Signature(parameters)  # type: ignore[attr-defined]
    command.__doc__ = f"{summary} Runs this stage only."
    app.command(name=name)(command)


for _stage in STAGES:
    _add_stage_command(_stage.name, _stage.summary)


@app.command()
@takes_config
def status(config: Config) -> None:
    """Per stage: how many samples are done, failed, stale, pending, blocked or excluded."""
    from merr_factory.reports.status import collect_status, render_status

    setup_console_logging(False)
    workspace = _open(config)
    typer.echo(render_status(collect_status(workspace), len(workspace.samples)))


@app.command(name="verify")
@takes_config
def verify_command(
    config: Config,
    stages: StagesOption = None,
    repair: Annotated[
        bool,
        typer.Option("--repair", help="Remove the damaged records: the next run recomputes them."),
    ] = False,
) -> None:
    """Read every stored record again, with every file it lists, sealed stages included:
    per stage, the records missing, truncated or not matching their hash. Exit 1 when any
    is damaged."""
    from merr_factory.reports.verify import render_verify, verify_output

    setup_console_logging(False)
    chosen = _choose_stages(_split(stages))
    with _only_writer(config.output) if repair else contextlib.nullcontext():
        workspace = _open(config)
        try:
            checks = verify_output(workspace.store, chosen, repair)
        except OutputError as error:
            raise _stop(error) from None
    typer.echo(render_verify(checks, repair))
    if any(check.damaged for check in checks):
        raise typer.Exit(EXIT_FAILURES)


@app.command()
@takes_config
def report(config: Config, quiet: QuietOption = False) -> None:
    """Build or refresh the HTML report from the stored records; prints its path."""
    from merr_factory.reports.refresh import ReportError, refresh_report

    setup_console_logging(False)
    with _only_writer(config.output):
        workspace = _open(config)
        try:
            path = refresh_report(workspace, progress=not quiet)
        except ReportError as error:
            raise _fail(str(error)) from None
        except OutputError as error:
            typer.echo(f"error: {error}", err=True)
            raise typer.Exit(EXIT_OUTPUT) from None
    typer.echo(path)


@contextlib.contextmanager
def _only_writer(output: Path) -> Iterator[None]:
    """Hold the output's lock (a command that writes there besides ``run``); refused (exit
    2) while another run writes there. An output that does not exist needs none."""
    from merr_factory.run.output_lock import OutputBusy, OutputLock

    if not output.is_dir():
        yield
        return
    try:
        lock = OutputLock(output)
        lock.acquire()
    except OutputBusy as error:
        raise _fail(str(error)) from None
    except OutputError as error:
        raise _stop(error) from None
    try:
        yield
    finally:
        lock.release()


@app.command(name="evaluate")
@takes_config
def evaluate_command(config: Config) -> None:
    """Measure the dataset's quality from the stored records (label sources against the CSV
    label, the reasoning's grounding, MERR's distributions beside ours); writes
    <output>/quality.json, prints its tables and its path."""
    from merr_factory.export.quality_section import quality_text
    from merr_factory.reports.evaluate import EvaluateError, evaluate

    setup_console_logging(False)
    workspace = _open(config)
    try:
        report, path = evaluate(workspace)
    except EvaluateError as error:
        raise _fail(str(error)) from None
    except OutputError as error:  # quality.json could not be written
        raise _stop(error) from None
    typer.echo(quality_text(report))
    typer.echo(f"\n{report.samples} samples evaluated; wrote {path}")


@app.command(name="review")
@takes_config
def review_command(
    config: Config,
    annotator: Annotated[
        str, typer.Option("--annotator", help="Whose decisions these are (a file name).")
    ] = os.environ.get("USER") or "annotator",
    host: Annotated[str, typer.Option("--host", help="Address to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="Port (0: any free one).")] = 8765,
    token: Annotated[
        str | None, typer.Option("--token", help="Shared secret; needed off 127.0.0.1.")
    ] = None,
    to: Annotated[
        str | None,
        typer.Option("--to", help="Write tasks for another tool instead: label-studio."),
    ] = None,
    source: Annotated[
        str | None,
        typer.Option("--from", help="Read another tool's export instead: label-studio."),
    ] = None,
    path: Annotated[
        Path | None,
        typer.Argument(help="--to: the folder to write; --from: the export file to read."),
    ] = None,
    media_url: Annotated[
        str | None,
        typer.Option("--media-url", help="--to: where Label Studio finds the folder's media/."),
    ] = None,
) -> None:
    """Review the exported samples in the browser, one at a time, by keyboard: accept,
    reject, relabel, fix texts. Decisions go to <output>/review/<annotator>.jsonl; the next
    run's label stage and export apply them. With --to label-studio DIR / --from label-studio
    EXPORT.json: write Label Studio tasks, or read its JSON export into the same decisions."""
    from merr_factory.review.app import ReviewError, review_workspace, run_review

    setup_console_logging(False)
    workspace = review_workspace(config)
    if to is None and source is None:
        try:
            run_review(workspace, annotator, host, port, token, typer.echo)
        except (ReviewError, ReviewLogError) as error:
            raise _fail(str(error)) from None
        return
    from merr_factory.review.app import exchange_review
    from merr_factory.review.label_studio import LabelStudioError

    try:
        exchange_review(workspace, to, source, path, media_url, typer.echo)
    except (ReviewError, ReviewLogError, LabelStudioError) as error:
        raise _fail(str(error)) from None


@app.command()
@takes_config
def doctor(
    config: Config,
    hub_timeout: Annotated[
        float, typer.Option("--timeout", min=0.1, help="Seconds to wait for a hub or server.")
    ] = 5.0,
) -> None:
    """Check a config before a run, loading no model: packages, models, endpoints, GPUs,
    the output folder and the disk. One row per check; exit 1 on any problem."""
    from merr_factory.preflight.doctor import run_checks

    try:
        samples = len(open_workspace(config).samples)
    except (DiscoveryError, LabelFileError) as error:
        raise _fail(str(error)) from None
    checks = run_checks(config, samples, hub_timeout)
    for check in checks:
        typer.echo(check.line())
    problems = sum(not check.ok for check in checks)
    typer.echo(f"{len(checks)} checks, {problems} problem(s)")
    if problems:
        raise typer.Exit(EXIT_FAILURES)


@app.command(name="estimate")
@takes_config
def estimate_command(
    config: Config,
    pilot: Annotated[
        int | None,
        typer.Option("--pilot", min=1, help="Pilot samples (default: estimate.pilot_samples)."),
    ] = None,
    quiet: QuietOption = False,
) -> None:
    """Run a pilot on a few samples spread over the input and project the whole input's wall
    time, disk, LLM tokens and cost; writes <output>/estimate.json. The real run reuses the
    pilot's records."""
    from merr_factory.preflight.estimate import estimate, render_estimate

    setup_console_logging(False)
    workspace = _open(config)
    try:
        result = estimate(workspace, pilot or config.estimate.pilot_samples, progress=not quiet)
    except OutputError as error:
        raise _stop(error) from None
    typer.echo(render_estimate(result, config.executor))
    typer.echo(f"wrote {config.output / 'estimate.json'}")


@app.command()
def init(
    path: Annotated[Path, typer.Argument(help="Where to write the config.")] = Path("merr.yaml"),
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing file.")] = False,
) -> None:
    """Write a commented example config to start from."""
    if path.exists() and not force:
        raise _fail(f"{path} exists; use --force to overwrite it")
    template = resources.files("merr_factory").joinpath("templates/config.yaml").read_text("utf-8")
    try:
        write_text_atomic(path, template)
    except OutputError as error:
        raise _fail(str(error)) from None
    typer.echo(f"wrote {path}; edit input, labels and output, then: merr-build run --config {path}")


def main() -> None:
    app()
