"""``cartwatch export``: the research exports from the command line (kept apart from cli.py).

    cartwatch export KIND --out DIR --user USER [--format F] [--dates study_day|shifted]
                     [--site S ...] [--disease D ...] [--product P ...] [--chunk N] [--url URL]

KIND is one of :data:`dashboard.services.exports.KINDS`. The user signs in (password from
CARTWATCH_PASSWORD or asked for); only researchers and administrators may export, a researcher
within their own sites. A progress bar goes to standard error; the files written, one per line,
to standard output.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from sqlalchemy import Engine

from dashboard.cli_store import CommandError, sign_in
from dashboard.exports.source import DateMode, ExportRequest
from dashboard.services.cohort_data import CohortFilters
from dashboard.services.exports import KINDS, run_export
from dashboard.store.errors import AccessDeniedError


def add_parser(
    commands: argparse._SubParsersAction[argparse.ArgumentParser], url_help: str
) -> None:
    """The ``export`` sub-command and its options."""
    described = "; ".join(f"{k.name}: {k.title}" for k in KINDS.values())
    export = commands.add_parser(
        "export", help="write a de-identified research export into a folder",
        description=f"Research exports ({described}). De-identified: pseudonyms, study days "
        "or shifted dates, no free text.",
    )  # fmt: skip
    export.add_argument("kind", choices=list(KINDS))
    export.add_argument("--out", type=Path, required=True, help="folder to write into")
    export.add_argument("--user", required=True, help="who exports (researcher or admin)")
    formats = sorted({f for k in KINDS.values() for f in k.formats})
    export.add_argument("--format", choices=formats, help="file format (tidy tables only)")
    export.add_argument("--dates", choices=[d.value for d in DateMode], help="study_day "
                        "(default) or shifted: per-patient shifted date-times")  # fmt: skip
    export.add_argument("--site", action="append", default=[], help="restrict to a site")
    export.add_argument("--disease", action="append", default=[], help="restrict to a disease")
    export.add_argument("--product", action="append", default=[], help="restrict to a product")
    export.add_argument("--chunk", type=int, default=250, help="patients read at once")
    export.add_argument("--url", help=url_help)


def _bar(done: int, total: int) -> None:
    width = 30
    filled = width if total == 0 else int(width * done / total)
    print(f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{total} patients", end="",
          file=sys.stderr, flush=True)  # fmt: skip
    if done >= total:
        print(file=sys.stderr, flush=True)


def run(engine: Engine, args: argparse.Namespace) -> int:
    """Sign in, write the export, list the files; CommandError (exit 2) when refused."""
    kind = KINDS[args.kind]
    dates = DateMode(args.dates) if args.dates else kind.dates[0]
    try:
        request = ExportRequest(
            filters=CohortFilters(site_ids=frozenset(args.site),
                                  diseases=frozenset(args.disease),
                                  products=frozenset(args.product)),
            dates=dates,
            chunk_patients=args.chunk,
        )  # fmt: skip
    except ValueError as error:
        raise CommandError(str(error)) from None
    actor = sign_in(engine, args.user)
    try:
        paths = run_export(engine, actor, args.kind, request, args.out, args.format, _bar)
    except (AccessDeniedError, ValueError) as error:
        raise CommandError(str(error)) from None
    for path in paths:
        print(path)
    return 0
