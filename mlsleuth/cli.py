"""The `mlsleuth` command line: one click group fronting every part.

Each command only parses options and delegates to the module that owns the work; imports are
lazy so `mlsleuth --help` and the field binary start fast. Names, options, exit codes and output
files here are a public interface documented in docs/cli.md.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from typing import Any, NoReturn

import click

EXIT_OK = 0
EXIT_FLAGGED = 1
EXIT_ERROR = 2


def not_implemented(what: str) -> None:
    """Refuse honestly: an option we do not support yet must not pretend to work."""
    click.echo(f"mlsleuth: {what} is not implemented yet", err=True)
    sys.exit(EXIT_ERROR)


FIELD_BINARY_LEAVES_OUT = ("pandas", "xlsxwriter", "pyarrow", "mlsleuth.timelines")


def refuse_missing_stack(exc: ModuleNotFoundError) -> NoReturn:
    """Exit 2 with a clear message when `exc` is a stack the field binary leaves out; else re-raise."""
    name = exc.name or ""
    if any(name == left or name.startswith(left + ".") for left in FIELD_BINARY_LEAVES_OUT):
        click.echo(
            f"mlsleuth: this build has no {name} (the field binary leaves the timeline "
            "stack out); run this command from `pip install mlsleuth` on an analysis "
            "machine",
            err=True,
        )
        sys.exit(EXIT_ERROR)
    raise exc


def load(module: str, attr: str) -> Any:
    """Import a command's implementation; a stack left out of this build is an error, not a crash.

    The single-file field binary leaves the timeline stack (pandas, XlsxWriter) out. Commands
    such as `demo` import it only when they reach that step, so the call is guarded too."""
    try:
        func = getattr(importlib.import_module(module), attr)
    except ModuleNotFoundError as exc:
        refuse_missing_stack(exc)

    def guarded(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except ModuleNotFoundError as exc:
            refuse_missing_stack(exc)

    return guarded


def print_version(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    """--version; the field binary adds the SHA-256 of its own executable."""
    if not value or ctx.resilient_parsing:
        return
    from mlsleuth.selfinfo import version_text

    click.echo(version_text())
    ctx.exit()


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--version",
    is_flag=True,
    expose_value=False,
    is_eager=True,
    callback=print_version,
    help="Show the version (the field binary: also its SHA-256) and exit.",
)
def main() -> None:
    """mlsleuth: which model or package came into this ML host, when, from where,
    who loaded it, and what ran after it."""


@main.command()
@click.option(
    "--root",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("/"),
    show_default=True,
    help="Collect from this tree (a mounted image or copied host).",
)
@click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Archive to write (.tar.gz). Default: ./mlsleuth-<host>-<time>.tar.gz",
)
@click.option("--no-live", is_flag=True, help="Skip live process/network state.")
@click.option("--case", default="", help="Case identifier (chain of custody).")
@click.option("--examiner", default="", help="Examiner name (chain of custody).")
@click.option("--evidence-id", default="", help="Evidence item identifier (chain of custody).")
@click.option(
    "--max-copy-size",
    default="64MiB",
    show_default=True,
    help="Files larger than this are hashed and only their analysable parts are kept.",
)
@click.option("--time-limit", default=0.0, type=float, help="Stop collecting after N seconds (0: none).")
@click.option("--workers", default=0, type=int, help="Hashing workers (0: all cores).")
@click.option("--no-nice", is_flag=True, help="Do not lower CPU and I/O priority.")
@click.option("--include-secrets", is_flag=True, help="Keep secrets unredacted (off by default).")
@click.option("--quiet", "-q", is_flag=True, help="No progress output.")
@click.option("--json", "json_summary", is_flag=True, help="Print a JSON summary on stdout.")
def collect(**opts: object) -> None:
    """Capture ML artifacts and live state into a verifiable evidence archive."""
    sys.exit(load("mlsleuth.collector.collect", "run_collect_cli")(**opts))


@main.command()
@click.argument("archive", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def verify(archive: Path, as_json: bool) -> None:
    """Verify an evidence archive: exit 0 intact, 1 changed, 2 unreadable."""
    sys.exit(load("mlsleuth.collector.verify", "run_verify_cli")(archive, as_json=as_json))


@main.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "--format", "fmt", type=click.Choice(["text", "json", "sarif"]), default="text", show_default=True
)
@click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write the report here instead of stdout.",
)
def scan(paths: tuple[Path, ...], fmt: str, output: Path | None) -> None:
    """Statically inspect model files, directories or evidence archives (never loads a model).

    Exit 0 nothing flagged, 1 something flagged, 2 error."""
    sys.exit(load("mlsleuth.parsers.models.cli", "run_scan_cli")(list(paths), fmt=fmt, output=output))


@main.command()
@click.argument("inputs", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option(
    "--output",
    "-o",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="Directory for timeline.csv, timeline.xlsx, timesketch.jsonl, findings.json.",
)
@click.option(
    "--window",
    default=600,
    show_default=True,
    type=int,
    help="Seconds after a load in which follow-on activity is linked to it.",
)
@click.option("--parquet", is_flag=True, help="Also write timeline.parquet (needs pyarrow).")
@click.option(
    "--tz",
    "assume_tz",
    default=None,
    help="Timezone assumed for local-time artifacts when host.json has none.",
)
def timeline(
    inputs: tuple[Path, ...], output: Path, window: int, parquet: bool, assume_tz: str | None
) -> None:
    """Merge archives, trees, plaso json_line and osquery logs into one correlated timeline."""
    sys.exit(
        load("mlsleuth.timelines.run", "run_timeline_cli")(
            list(inputs), output, window=window, parquet=parquet, assume_tz=assume_tz
        )
    )


@main.command()
@click.option(
    "--journal",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="Directory for the append-only journal.",
)
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.option(
    "--root",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("/"),
    show_default=True,
    help="Resolve default watch locations under this root.",
)
@click.option("--on-alert", default=None, help="Command run with the finding as JSON on stdin.")
@click.option(
    "--max-queue", default=10000, show_default=True, type=int, help="Bound on pending hash/verdict jobs."
)
def watch(journal: Path, paths: tuple[Path, ...], root: Path, on_alert: str | None, max_queue: int) -> None:
    """Journal model downloads, loads and persistence writes as they happen (inotify)."""
    sys.exit(
        load("mlsleuth.collector.watch.agent", "run_watch_cli")(
            journal, list(paths), root=root, on_alert=on_alert, max_queue=max_queue
        )
    )


@main.command("osquery-extension")
@click.option(
    "--socket",
    "socket_path",
    required=True,
    type=click.Path(path_type=Path),
    help="osqueryd's extensions socket.",
)
@click.option(
    "--root", type=click.Path(file_okay=False, path_type=Path), default=Path("/"), show_default=True
)
@click.option("--timeout", default=3, type=int, help="Seconds to wait for the socket.")
@click.option("--interval", default=3, type=int, help="Seconds between pings to osqueryd.")
@click.option("--verbose", is_flag=True)
def osquery_extension(socket_path: Path, root: Path, timeout: int, interval: int, verbose: bool) -> None:
    """Serve ml_models, ml_remote_code and ml_findings tables to osqueryd."""
    sys.exit(
        load("mlsleuth.collector.osquery_extension", "run_extension_cli")(
            socket_path, root=root, timeout=timeout, interval=interval, verbose=verbose
        )
    )


@main.command()
@click.option(
    "--root",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Host tree to read (default: this host).",
)
@click.argument("archive", required=False, type=click.Path(exists=True, path_type=Path))
@click.option(
    "--osv",
    type=click.Path(exists=True, path_type=Path),
    default=None,
    help="OSV export directory or zip for offline advisory matching.",
)
@click.option(
    "--format", "fmt", type=click.Choice(["text", "json", "csv"]), default="text", show_default=True
)
def packages(root: Path | None, archive: Path | None, osv: Path | None, fmt: str) -> None:
    """Installed Python distributions: provenance, integrity against RECORD, advisories."""
    sys.exit(
        load("mlsleuth.parsers.packages.cli", "run_packages_cli")(
            root=root, archive=archive, osv=osv, fmt=fmt
        )
    )


@main.command()
@click.option(
    "--output",
    "-o",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("triage-out"),
    show_default=True,
    help="Directory for the archive and the timeline outputs.",
)
@click.option(
    "--root",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("/"),
    show_default=True,
    help="Host tree to triage.",
)
@click.option("--no-demo", is_flag=True, help="Do not fall back to the demo when no ML artifact is found.")
def triage(output: Path, root: Path, no_demo: bool) -> None:
    """Collect + timeline this host in one go (the demo incident when it has no ML artifact)."""
    sys.exit(load("mlsleuth.triage", "run_triage_cli")(output, root=root, demo_fallback=not no_demo))


@main.command()
@click.option(
    "--output",
    "-o",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Where to leave the demo host, archive and timeline (default: a temp dir).",
)
def demo(output: Path | None) -> None:
    """Build a synthetic compromised ML host, collect it and build its timeline."""
    sys.exit(load("mlsleuth.demo", "run_demo_cli")(output))


if __name__ == "__main__":
    main()
