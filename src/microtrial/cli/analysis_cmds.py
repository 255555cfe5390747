"""``microtrial analyze | pool | power | blinding``: file I/O around ``microtrial.analysis``."""

from __future__ import annotations

import json
import os
import tempfile
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import pandas as pd
import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

from microtrial.cli.common import JsonOpt, check_output, console, err_console, fail, handle_errors
from microtrial.domain.adaptive import PRESETS, SIMULATION
from microtrial.errors import StatisticalWarning, ValidationError
from microtrial.files import spreadsheet_safe_frame

PROGRESS_MIN_TRIALS = 5000
# Kept here (not imported) so that other commands' start-up doesn't pay for numpy/scipy.
BACKENDS = ("numpy", "jax", "dask")
OUTCOME_TYPES = ("continuous", "binary", "count")
SERIAL = ("periods", "none")


def _read_table(path: Path, **csv_kwargs: Any) -> pd.DataFrame:
    """Read CSV or Parquet (by extension); unreadable files become a CLI error naming the file."""
    if not path.exists():
        fail(f"{path}: no such file")
    try:
        if path.suffix.lower() in {".parquet", ".pq"}:
            return pd.read_parquet(path)
        try:
            # pyarrow's multi-threaded reader; the C engine below gives the clearer error.
            frame: pd.DataFrame = pd.read_csv(path, engine="pyarrow", **csv_kwargs)
        except Exception:  # fall back to the reference parser, whatever went wrong
            frame = pd.read_csv(path, **csv_kwargs)
        return frame
    except (ValueError, OSError, pd.errors.ParserError) as err:
        fail(f"{path}: cannot read: {err}")


def _write_table(frame: pd.DataFrame, out: Path | None) -> None:
    """Write CSV/Parquet atomically (temp file + rename), or CSV to stdout."""
    if out is None or out.suffix.lower() not in {".parquet", ".pq"}:
        frame = spreadsheet_safe_frame(frame)  # CSV may be opened in a spreadsheet
    if out is None:
        typer.echo(frame.to_csv(index=False), nl=False)
        return
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{out.name}.", dir=out.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        if out.suffix.lower() in {".parquet", ".pq"}:
            frame.to_parquet(tmp, index=False)
        else:
            import pyarrow as pa
            from pyarrow import csv as pa_csv

            pa_csv.write_csv(pa.Table.from_pandas(frame, preserve_index=False), tmp)
        tmp.replace(out)
    finally:
        if tmp.exists():
            tmp.unlink()


@contextmanager
def _in_file(path: Path) -> Iterator[None]:
    """Prefix validation errors with the file they came from."""
    try:
        yield
    except ValidationError as err:
        raise ValidationError(f"{path}: {err.field}", str(err).split(": ", 1)[-1]) from err


@contextmanager
def _report_warnings() -> Iterator[None]:
    """Show statistical warnings as notes on stderr instead of tracebacks."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", StatisticalWarning)
        yield
    for item in caught:
        if issubclass(item.category, StatisticalWarning):
            err_console.print(f"[yellow]warning:[/] {item.message}", highlight=False)
        else:
            warnings.warn_explicit(item.message, item.category, item.filename, item.lineno)


@contextmanager
def _progress(total: int, label: str) -> Iterator[Callable[[int], None] | None]:
    if total < PROGRESS_MIN_TRIALS or not err_console.is_terminal:
        yield None
        return
    columns = (*Progress.get_default_columns()[:1], BarColumn(), MofNCompleteColumn())
    with Progress(*columns, TimeElapsedColumn(), console=err_console, transient=True) as bar:
        task = bar.add_task(label, total=total)
        yield lambda n: bar.advance(task, n)


def analyze(
    input_file: Annotated[
        Path, typer.Argument(metavar="INPUT", help="Long-format CSV or Parquet.")
    ],
    out: Annotated[
        Path | None, typer.Option("--out", help="Result CSV/Parquet; stdout CSV if omitted.")
    ] = None,
    mcid: Annotated[float, typer.Option(help="Minimal clinically important difference.")] = 1.0,
    relative_mcid: Annotated[
        float, typer.Option(help="Relative threshold (share of the baseline mean).")
    ] = 0.3,
    no_trend: Annotated[bool, typer.Option("--no-trend", help="Leave out the time trend.")] = False,
    outcome_type: Annotated[str, typer.Option(help="continuous, binary or count.")] = "continuous",
    serial: Annotated[
        str,
        typer.Option(
            help="Binary/count day-to-day dependence: periods (period totals, default) or none "
            "(days independent)."
        ),
    ] = "periods",
    backend: Annotated[str, typer.Option(help="numpy, jax or dask.")] = "numpy",
    higher_is_better: Annotated[
        bool, typer.Option("--higher-is-better", help="Higher values are better.")
    ] = False,
    scheduler: Annotated[
        str | None,
        typer.Option(
            "--scheduler",
            help="Dask scheduler address (tcp://HOST:8786) for --backend dask; "
            "default: a small local cluster on this machine.",
        ),
    ] = None,
) -> None:
    """Fit the n-of-1 model to every trial and outcome of INPUT."""
    from microtrial.analysis import fit_trials

    if out is not None:
        check_output(out, "--out")
    with handle_errors():
        if outcome_type not in OUTCOME_TYPES:
            fail(f"--outcome-type: unknown {outcome_type!r} (allowed: {', '.join(OUTCOME_TYPES)})")
        if backend not in BACKENDS:
            fail(f"--backend: unknown {backend!r} (allowed: {', '.join(BACKENDS)})")
        if serial not in SERIAL:
            fail(f"--serial: unknown {serial!r} (allowed: {', '.join(SERIAL)})")
        frame = _read_table(input_file, dtype={"trial_id": str, "outcome": str})
        n_trials = frame["trial_id"].nunique() if "trial_id" in frame.columns else 0
        with (
            _dask_client(backend, scheduler) as client,
            _in_file(input_file),
            _report_warnings(),
            _progress(n_trials, "fitting") as tick,
        ):
            result = fit_trials(
                frame,
                mcid=mcid,
                relative_mcid=relative_mcid,
                trend=not no_trend,
                higher_is_better=higher_is_better,
                outcome_type=outcome_type,
                backend=backend,
                serial=serial,
                progress=tick,
                client=client,
            )
        _write_table(result, out)


@contextmanager
def _dask_client(backend: str, scheduler: str | None) -> Iterator[Any]:
    """A Dask client for ``--backend dask`` (remote scheduler or a local cluster), else None."""
    if backend != "dask":
        if scheduler is not None:
            fail("--scheduler: only with --backend dask")
        yield None
        return
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        fail("--backend: dask needs the [dask] extra (pip install 'microtrial[dask]')")
    if scheduler is not None:
        try:
            client = Client(scheduler, timeout="10s")  # type: ignore[no-untyped-call]
        except OSError as err:
            fail(f"--scheduler: cannot reach {scheduler!r}: {err}")
        with client:
            yield client
        return
    cluster = LocalCluster(  # type: ignore[no-untyped-call]
        n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None
    )
    with cluster, Client(cluster) as client:  # type: ignore[no-untyped-call]
        yield client


def pool_cmd(
    results: Annotated[Path, typer.Argument(metavar="RESULTS", help="Output of `analyze`.")],
    by: Annotated[
        str | None, typer.Option("--by", help="Pool within groups of this column.")
    ] = None,
    mcid: Annotated[float, typer.Option(help="Responder threshold on the effect.")] = 1.0,
    outcome: Annotated[
        str | None,
        typer.Option("--outcome", help="Pool only the rows of this outcome (e.g. pain)."),
    ] = None,
    higher_is_better: Annotated[
        bool,
        typer.Option(
            "--higher-is-better/--lower-is-better",
            help="Direction of benefit (pain: lower is better; sleep quality: higher).",
        ),
    ] = False,
    tau_scale: Annotated[
        float | None,
        typer.Option(
            "--tau-scale",
            help="Half-normal scale of the between-trial sd, in the effect's units "
            "(default 1 point; 0.5 for binary/count log ratios).",
        ),
    ] = None,
    out: Annotated[Path | None, typer.Option("--out", help="Summary CSV/Parquet.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Pool per-trial effects of one outcome with a normal random-effects model."""
    from microtrial.analysis import pool

    if out is not None and not as_json:
        check_output(out, "--out")
    with handle_errors():
        if tau_scale is not None and not tau_scale > 0:
            fail("--tau-scale: must be a positive number of the effect's units")
        frame = _read_table(results, dtype={"trial_id": str})
        with _in_file(results), _report_warnings():
            pooled = pool(
                frame,
                by=by,
                mcid=mcid,
                higher_is_better=higher_is_better,
                outcome=outcome,
                tau_scale=tau_scale,
            )
        summary = pooled.summary()
        if as_json:
            typer.echo(summary.to_json(orient="records"))
        elif out is not None:
            _write_table(summary, out)
        else:
            console.print(summary.drop(columns="caveat").to_string(index=False))
            # the caveat in words under the table, where a reader of the numbers sees it
            for _, row in summary[summary["few_trials"]].iterrows():
                typer.echo(f"{row['group']}: {row['caveat']} (no prediction interval)")


def power_cmd(
    effect: Annotated[float, typer.Option(help="True effect (active minus placebo).")] = -1.0,
    sd: Annotated[float, typer.Option(help="Residual sd.")] = SIMULATION.sd,
    rho: Annotated[float, typer.Option(help="AR(1) autocorrelation per day.")] = SIMULATION.rho,
    run_in: Annotated[int, typer.Option(help="Baseline days.")] = 14,
    pairs: Annotated[int, typer.Option(help="Active/placebo period pairs.")] = 3,
    period_length: Annotated[int, typer.Option(help="Days per period.")] = 14,
    wash_in: Annotated[int, typer.Option(help="Excluded days at the start of a period.")] = 2,
    missing: Annotated[float, typer.Option(help="Share of missing days.")] = SIMULATION.missing,
    threshold: Annotated[float, typer.Option(help="Decision threshold on P(benefit).")] = 0.95,
    n_sim: Annotated[
        int, typer.Option(help="Simulated trials (per effect with --adaptive).")
    ] = SIMULATION.n_sim,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 1,
    as_json: JsonOpt = False,
    adaptive: Annotated[
        bool,
        typer.Option(
            "--adaptive",
            help="Simulate the adaptive stopping rule against the fixed design (--pairs pairs) "
            "over --effects instead.",
        ),
    ] = False,
    preset: Annotated[
        str, typer.Option(help=f"Adaptive: a named rule to start from ({', '.join(PRESETS)}).")
    ] = "default",
    min_pairs: Annotated[
        int | None, typer.Option(help="Adaptive: pairs before the first look (preset's).")
    ] = None,
    max_pairs: Annotated[int | None, typer.Option(help="Adaptive: most pairs (preset's).")] = None,
    benefit_threshold: Annotated[
        float | None, typer.Option(help="Adaptive: stop for benefit at P(effect <= -1) >= this.")
    ] = None,
    futility_threshold: Annotated[
        float | None, typer.Option(help="Adaptive: stop for futility at P(effect <= -1) <= this.")
    ] = None,
    effects: Annotated[
        str, typer.Option(help="Adaptive: true effects to simulate, comma-separated.")
    ] = "0,-0.5,-1,-1.5,-2",
) -> None:
    """Monte-Carlo power of one n-of-1 design, or (--adaptive) a stopping rule's operating
    characteristics against it."""
    import numpy as np

    from microtrial.analysis import power

    if adaptive:
        _adaptive_power(
            effects,
            preset,
            {
                "min_pairs": min_pairs,
                "max_pairs": max_pairs,
                "benefit_threshold": benefit_threshold,
                "futility_threshold": futility_threshold,
            },
            {
                "sd": sd,
                "rho": rho,
                "run_in": run_in,
                "period_length": period_length,
                "wash_in": wash_in,
                "missing": missing,
                "fixed_pairs": pairs,
                "n_sim": n_sim,
            },
            seed,
            as_json,
        )
        return
    with handle_errors(), _report_warnings():
        res = power(
            effect=effect,
            sd=sd,
            rho=rho,
            run_in=run_in,
            pairs=pairs,
            period_length=period_length,
            wash_in=wash_in,
            missing=missing,
            threshold=threshold,
            n_sim=n_sim,
            rng=np.random.default_rng(seed),
        )
        if as_json:
            typer.echo(json.dumps(res.as_dict()))
        else:
            console.print(pd.Series(res.as_dict()).to_string())


def _adaptive_power(
    effects: str,
    preset: str,
    change: dict[str, Any],
    design: dict[str, Any],
    seed: int,
    as_json: bool,
) -> None:
    """Print the rule's operating characteristics (the preset's numbers unless given)."""
    import numpy as np

    from microtrial.analysis.adaptive import operating_characteristics
    from microtrial.domain import adaptive
    from microtrial.errors import ValidationError

    with handle_errors():
        try:
            true = tuple(float(e) for e in effects.split(",") if e.strip())
        except ValueError:
            raise ValidationError(
                "effects",
                "must be numbers separated by commas",
                value=effects,
                allowed="e.g. 0,-0.5,-1",
            ) from None
        rule = adaptive.preset(preset, **{k: v for k, v in change.items() if v is not None})
        with _report_warnings():
            oc = operating_characteristics(
                **rule.stopping(),
                effects=true,
                rng=np.random.default_rng(seed),
                **design,
            )
        if as_json:
            typer.echo(json.dumps(oc.as_dict()))
            return
        typer.echo(f"rule: {rule.title} ({rule.preset_name}), {rule.describe()}")
        typer.echo(pd.DataFrame([r.as_dict() for r in oc.rows]).to_string(index=False))


def blinding_cmd(
    guesses: Annotated[
        Path | None, typer.Argument(metavar="GUESSES", help="CSV of period guesses.")
    ] = None,
    from_self_blinding_study: Annotated[
        Path | None,
        typer.Option("--from-self-blinding-study", help="pacutes.csv of the self-blinding study."),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Blinding indices (Bang per arm, James overall) and correct-guess shares."""
    from microtrial.analysis import blinding, blinding_from_self_blinding_study

    with handle_errors():
        if (guesses is None) == (from_self_blinding_study is None):
            fail("give either GUESSES or --from-self-blinding-study FILE")
        with _report_warnings():
            if from_self_blinding_study is not None:
                raw = _read_table(from_self_blinding_study, dtype={"trial_id": str})
                with _in_file(from_self_blinding_study):
                    res = blinding_from_self_blinding_study(raw)
            else:
                assert guesses is not None  # for mypy; checked above
                raw = _read_table(guesses, dtype={"trial_id": str})
                with _in_file(guesses):
                    res = blinding(raw)
        if as_json:
            typer.echo(json.dumps(res.as_dict()))
        else:
            console.print(res.summary().to_string(index=False, na_rep="—"))
            console.print("— = not defined (no named guesses); shares are of named guesses")
            console.print(f"James blinding index: {res.james_bi:.3f}")


def register(app: typer.Typer) -> None:
    """Add the analysis commands to the CLI."""
    app.command("analyze")(analyze)
    app.command("pool")(pool_cmd)
    app.command("power")(power_cmd)
    app.command("blinding")(blinding_cmd)
