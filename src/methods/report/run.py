"""Running a report: execute the papermill template, export HTML (and PDF), write the manifest.

Split from :mod:`methods.report.tables` (which keeps the tables and charts and re-exports these
names): this module holds the file side of docs/data_contract.md section 3 -- deterministic CSV and
PNG writers, SHA-256 hashes, the run manifest, the notebook runner and the PDF printer.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import subprocess
import sys
import tempfile
import traceback
import warnings
from concurrent.futures import ProcessPoolExecutor, as_completed
from multiprocessing import get_context
from pathlib import Path

import nbformat
import papermill as pm
from jinja2 import DictLoader
from jupyter_client import AsyncKernelManager
from nbconvert import HTMLExporter
from papermill.exceptions import PapermillExecutionError
from tqdm import tqdm
from traitlets.config import Config

from methods.config.presets import load_force
from methods.core.errors import InputRefused, UsageError, WorkbenchError
from methods.core.io import (  # noqa: F401 (re-exported: report.run is where users found them)
    MANIFEST_PACKAGES,
    git_commit,
    package_versions,
    save_figure,
    sha256_file,
    sha256_frame,
    write_manifest,
    write_table,
)
from methods.core.periods import month_label, months_back
from methods.data.store import Store

# --------------------------------------------------------------------------- errors


class ReportError(WorkbenchError):
    """A report run failed: the notebook raised, Chromium could not print, the store moved.

    The message names the month, the failing cell or step and where the partly written files
    are. ``vsw`` shows it without a traceback (exit code 1).
    """


class ReportsFailed(ReportError):
    """Some months of a multi-month run failed (the others were finished).

    Attributes:
        failures: ``{month: message}`` of every failed month.
        details: ``{month: traceback text}`` (shown by ``vsw`` with ``VSW_DEBUG=1``).
        results: the result dicts of the months that succeeded.
    """

    def __init__(self, message: str, failures: dict, details: dict, results: list) -> None:
        super().__init__(message)
        self.failures = failures
        self.details = details
        self.results = results


# --------------------------------------------------------------------------- months, inputs

#: Months of history the monthly report reads: the notebook's ``reporting.months_back(month,
#: 24)`` (12-month rolling estimates and the same period last year). The manifest hashes the
#: inputs of every loaded month in this span.
INPUT_SPAN_MONTHS = 24

_MONTH_RE = re.compile(r"\d{4}-(0[1-9]|1[0-2])")


def _check_month(month: str, what: str = "month") -> str:
    if not isinstance(month, str) or not _MONTH_RE.fullmatch(month):
        raise UsageError(f"{what} must be YYYY-MM, got {month!r}")
    return month


def month_range(first: str, last: str) -> list[str]:
    """The months from ``first`` to ``last`` inclusive (``YYYY-MM``), oldest first.

    Raises:
        UsageError: a malformed month, or ``first`` after ``last``.
    """
    _check_month(first, "--from")
    _check_month(last, "--to")
    if first > last:
        raise UsageError(f"--from {first} is after --to {last}: give the earlier month first")
    y, m = int(first[:4]), int(first[5:])
    out = []
    while f"{y:04d}-{m:02d}" <= last:
        out.append(f"{y:04d}-{m:02d}")
        y, m = (y + 1, 1) if m == 12 else (y, m + 1)
    return out


def _open_store(db: str | Path):
    """The store at ``db``, read-only (several report processes may read it at once)."""

    db = Path(db)
    if not db.is_file():
        raise UsageError(f"no store at {db}: run `vsw demo` or `vsw ingest victims` first")
    return Store(db, read_only=True)


def loaded_months(db: str | Path, force=None) -> list[str]:
    """Months loaded in the store at ``db`` (opened read-only), oldest first; with ``force``
    (a preset or name), only the months holding that force's data (a store may hold several
    forces side by side; :meth:`methods.data.store.Store.require_force` decides)."""
    with _open_store(db) as st:
        months = sorted(st.loaded_months())
        if force is None:
            return months
        out = []
        for m in months:
            try:
                st.require_force(force, m)
            except InputRefused:
                continue
            out.append(m)
        return out


def _missing_months_error(missing: list[str], db: Path, loaded: list[str]) -> UsageError:
    have = f"{loaded[0]}..{loaded[-1]} ({len(loaded)} months)" if loaded else "no months"
    return UsageError(
        f"not loaded in {db}: {', '.join(missing)} (the store holds {have}); load each month "
        "first with `vsw ingest victims FILE --month YYYY-MM`, then its samples and responses "
        "(`vsw ingest sample` / `vsw ingest responses`), or build synthetic data with `vsw demo`"
    )


def report_inputs(store, month: str, force=None) -> tuple[dict[str, str], list[str]]:
    """SHA-256 of every input file the monthly report of ``month`` reads.

    The report reads every loaded month among the :data:`INPUT_SPAN_MONTHS` months ending with
    ``month`` (its victims, samples and responses), so a change to any of them changes the hashes.

    Arguments:
        store: an open :class:`methods.data.store.Store`.
        month: the report month ``YYYY-MM``.
        force: whose inputs (as :meth:`methods.data.store.Store.require_force` returns it);
            needed when the store holds several forces' data for those months.

    Returns:
        ``({label: sha256}, months)``: labels as :meth:`methods.data.store.Store.input_hashes` gives
        them, and the loaded months covered, oldest first.
    """

    span = set(months_back(month, INPUT_SPAN_MONTHS))
    months = sorted(m for m in store.loaded_months(force=force) if m in span)
    inputs: dict[str, str] = {}
    for m in months:
        for label, sha in store.input_hashes(m, force=force).items():
            if inputs.get(label, sha) != sha:  # same label, other content: keep both
                label = f"{label} [{sha[:12]}]"
            inputs[label] = sha
    return dict(sorted(inputs.items())), months


# --------------------------------------------------------------------------- noise at the source


class _CommentEqualsFilter(logging.Filter):
    """Drop papermill's false "Unable to parse line" for a parameter line whose comment has "=".

    papermill (``translators.PythonTranslator.inspect``) counts every "=" of a parameter line,
    comments included, and gives up on ``surveys = None  # None = every survey``. The line is a
    plain assignment and papermill injects the overrides after the cell either way; the only
    effect is that it cannot infer that parameter's type. Lines that really have several "=" in
    their code are still reported.
    """

    _pattern = re.compile(r"Unable to parse line \d+ '(?P<line>.*)'\.?$", re.S)

    def filter(self, record: logging.LogRecord) -> bool:
        match = self._pattern.match(record.getMessage())
        if match is None:
            return True
        code = match["line"].split("#", 1)[0]
        return code.count("=") != 1


_FILTER = _CommentEqualsFilter()


def _quiet_papermill() -> None:
    logger = logging.getLogger("papermill.translators")
    if _FILTER not in logger.filters:
        logger.addFilter(_FILTER)


_KERNEL_MANAGER: type | None = None


def _kernel_manager_class() -> type:
    """``AsyncKernelManager`` that shuts an idle kernel down without interrupting it first.

    jupyter_client's ``shutdown_kernel`` always sends SIGINT before the shutdown request; a
    kernel caught inside a message handler by that signal logs "KeyboardInterrupt caught in
    kernel" on our stderr. papermill only shuts the kernel down once every cell has run (or
    failed), so there is nothing to interrupt; a cell timeout still interrupts through
    ``interrupt_kernel``, and a kernel that ignores the shutdown request is still terminated
    after ``shutdown_wait_time``.
    """
    global _KERNEL_MANAGER
    if _KERNEL_MANAGER is None:

        class ReportKernelManager(AsyncKernelManager):
            async def _async_interrupt_kernel(self) -> None:
                if self.shutting_down:
                    return
                await super()._async_interrupt_kernel()

        _KERNEL_MANAGER = ReportKernelManager
    return _KERNEL_MANAGER


def _kernel_config():
    """Kernel manager settings for papermill's kernels.

    On POSIX systems the kernel talks over IPC (Unix sockets in the user's private Jupyter
    runtime folder) instead of TCP on localhost: no port is opened, so nothing on the machine
    can listen in, ipykernel has no reason for its "running over TCP without encryption"
    warning, and parallel runs cannot race for the same free ports. The kernel manager is
    :func:`_kernel_manager_class`.
    """

    config = Config()
    config.NotebookClient.kernel_manager_class = _kernel_manager_class()
    if os.name == "posix":
        config.KernelManager.transport = "ipc"
    return config


# --------------------------------------------------------------------------- HTML, PDF


def _template(name: str | Path) -> Path:
    path = Path(name)
    if not path.is_absolute():
        path = TEMPLATE_DIR / path
    if not path.exists():
        raise UsageError(f"notebook template not found: {path} (run from a workbench checkout)")
    return path


TEMPLATE_DIR = Path(__file__).resolve().parents[3] / "notebooks"

#: Screen layout of the HTML report: one readable column, the house font, quiet headings.
SCREEN_CSS = """
body { font-family: "Source Sans Pro", "Segoe UI", "Helvetica Neue", Arial, sans-serif;
       color: #1b1b1b; background: #ffffff; line-height: 1.45; }
main, body.jp-Notebook { max-width: 960px; margin: 0 auto; padding: 16px 24px; }
h1 { font-size: 1.9em; color: #0b3d66; border-bottom: 3px solid #0b3d66; padding-bottom: 6px; }
h2 { font-size: 1.4em; color: #0b3d66; margin-top: 1.6em; border-bottom: 1px solid #c8d3de; }
h3 { font-size: 1.15em; color: #1b1b1b; margin-top: 1.2em; }
ul { padding-left: 1.3em; } li { margin: 0.35em 0; }
.jp-RenderedImage img { max-width: 100%; height: auto; }
.jp-OutputArea-output pre { font-family: inherit; white-space: pre-wrap; }
"""

#: Print layout of the HTML report (used by Chromium for the PDF): A4, tables and figures
#: kept inside the page, a heading kept with what follows it, figures not split.
PRINT_CSS = """
@page { size: A4; margin: 14mm 12mm 14mm 12mm; }
@media print {
  body.jp-Notebook { padding: 0 !important; margin: 0 !important; }
  body.jp-Notebook main, .jp-Cell, .jp-OutputArea, .jp-OutputArea-child,
  .jp-OutputArea-output, .jp-RenderedHTMLCommon { overflow: visible !important; }
  .jp-Cell { padding: 2px 0 !important; }
  .jp-OutputArea-output img, .jp-RenderedImage img {
    max-width: 100% !important; height: auto !important; break-inside: avoid;
  }
  .jp-RenderedImage, .jp-OutputArea-output.jp-RenderedImage { break-inside: avoid; }
  .jp-RenderedHTMLCommon table { font-size: 8.5pt; max-width: 100%; table-layout: auto; }
  .jp-RenderedHTMLCommon th, .jp-RenderedHTMLCommon td { padding: 1px 4px; }
  .jp-RenderedHTMLCommon thead { display: table-header-group; }
  .jp-RenderedHTMLCommon tr { break-inside: avoid; }
  .jp-MarkdownCell, h1, h2, h3, h4 { break-after: avoid; page-break-after: avoid; }
  pre { white-space: pre-wrap !important; word-break: normal !important; overflow-wrap: anywhere; }
}
"""

# The report needs no JavaScript: require.js, MathJax and mermaid (fetched from a CDN by
# nbconvert's lab template) are left out, so the HTML opens and prints offline.
_HTML_TEMPLATE = (
    "{%- extends 'lab/index.html.j2' -%}\n"
    "{%- block html_head_js_requirejs -%}{%- endblock html_head_js_requirejs -%}\n"
    "{%- block html_head_js_mathjax -%}{%- endblock html_head_js_mathjax -%}\n"
    "{%- block html_head_js_mermaidjs -%}{%- endblock html_head_js_mermaidjs -%}\n"
    '{%- block html_head_css -%}<style type="text/css">'
    + SCREEN_CSS
    + PRINT_CSS
    + "</style>{%- endblock html_head_css -%}\n"
    # a chart's alternative text (methods.report.publish.show_figure) becomes the image's alt
    "{% block data_png scoped %}"
    '<div class="jp-RenderedImage jp-OutputArea-output {{ extra_class }}">'
    "<img src=\"data:image/png;base64,{{ output.data['image/png'] | escape_html }}\""
    "{%- set alttext = output | get_metadata('alt', 'image/png') -%}"
    '{%- if alttext %} alt="{{ alttext | escape_html }}"{%- endif %}>'
    "</div>{%- endblock data_png %}\n"
)


def notebook_to_html(ipynb: str | Path, html: str | Path, title: str | None = None) -> Path:
    """Export an executed notebook to HTML without code cells or prompts.

    The page uses nbconvert's lab template with :data:`PRINT_CSS` for print and without the
    template's CDN scripts (the report has no maths or widgets).
    """

    nb = nbformat.read(str(ipynb), as_version=4)
    exporter = HTMLExporter(
        exclude_input=True,
        exclude_input_prompt=True,
        exclude_output_prompt=True,
        extra_loaders=[DictLoader({"vsw_report.html.j2": _HTML_TEMPLATE})],
        template_file="vsw_report.html.j2",
    )
    exporter.anchor_link_text = ""  # no pilcrow links after headings in a publication
    title = title or "Victim satisfaction report"
    body, _ = exporter.from_notebook_node(nb, resources={"metadata": {"name": title}})
    Path(html).write_text(body, encoding="utf-8")
    return Path(html)


def chromium_path() -> str | None:
    """The headless Chromium used for PDFs (Debian's ``chromium``), or None if absent."""

    return shutil.which("chromium") or shutil.which("chromium-browser")


_NO_CHROMIUM = (
    "--pdf: no PDF written: Chromium is not installed (Debian/Ubuntu: apt-get install "
    "chromium); the HTML report is complete"
)


def _print_pdf(html: Path, pdf: Path, timeout: float = 180) -> Path | None:
    """Print HTML to PDF with headless Chromium (Debian's ``chromium``).

    Returns:
        the PDF path, or None (with a warning) when Chromium is not installed.

    Raises:
        ReportError: Chromium failed, timed out or wrote no PDF (its last stderr lines given).
    """

    exe = chromium_path()
    if exe is None:
        warnings.warn(_NO_CHROMIUM, stacklevel=2)
        return None
    html, pdf = Path(html), Path(pdf)
    pdf.unlink(missing_ok=True)
    # A private profile per call: parallel Chromiums sharing one profile hand their work to
    # the first and exit without printing. --no-sandbox: Chromium refuses to run as root
    # (CI containers) with its sandbox; it only renders our own local file.
    with tempfile.TemporaryDirectory(prefix="vsw-chromium-") as profile:
        cmd = [
            exe,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={profile}",
            f"--print-to-pdf={pdf}",
            "--no-pdf-header-footer",
            html.as_uri(),
        ]
        try:
            res = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            raise ReportError(
                f"Chromium did not print {html.name} to PDF within {timeout:.0f} s ({exe}); "
                "the HTML report is complete"
            ) from None
        except OSError as exc:
            raise ReportError(f"Chromium ({exe}) could not be started: {exc}") from None
    ok = pdf.is_file() and pdf.read_bytes()[:5] == b"%PDF-"
    if res.returncode != 0 or not ok:
        tail = "; ".join(line for line in res.stderr.strip().splitlines()[-3:] if line)
        raise ReportError(
            f"Chromium ({exe}) failed to print {html} to PDF (exit code {res.returncode}"
            f"{', no PDF written' if not ok else ''}): {tail or 'no message'}; "
            "the HTML report is complete"
        )
    return pdf


# --------------------------------------------------------------------------- one report

#: Files a report run writes; an earlier run's copies are removed before a rerun.
_OUTPUTS = ("report.ipynb", "report.html", "report.pdf", "manifest.json")


def _clear_outputs(report_dir: Path) -> None:
    for name in _OUTPUTS:
        (report_dir / name).unlink(missing_ok=True)
    for pattern in ("tables/*.csv", "figures/*.png"):
        for p in report_dir.glob(pattern):
            p.unlink()


def _cell_error(exc, month: str, nb_out: Path) -> ReportError:
    value = str(exc.evalue)
    value = value if len(value) <= 300 else value[:297] + "..."
    return ReportError(
        f"{month}: the report notebook failed in cell [{exc.exec_count}] with {exc.ename}: "
        f"{value}; the partly executed notebook, with the traceback, is {nb_out}"
    )


def execute_notebook(
    template: str | Path, nb_out: Path, params: dict, *, label: str, progress: bool = False
) -> Path:
    """Run a notebook template with papermill in ``nb_out``'s folder (kernels over IPC).

    ``label`` names the run in a :class:`ReportError` when a cell fails (with the cell and the
    error; the partly executed notebook is kept at ``nb_out``).
    """
    _quiet_papermill()
    try:
        pm.execute_notebook(
            str(_template(template)),
            str(nb_out),
            parameters=params,
            cwd=str(Path(nb_out).parent),
            progress_bar=progress,
            log_output=False,
            config=_kernel_config(),
        )
    except PapermillExecutionError as exc:
        raise _cell_error(exc, label, Path(nb_out)) from None
    return Path(nb_out)


def run_report(
    force: str,
    month: str,
    db: str | Path,
    out: str | Path = "reports",
    seed: int = 20250101,
    pdf: bool = False,
    template: str | Path = "monthly_report.ipynb",
    progress: bool = False,
) -> dict:
    """Execute the monthly report notebook with papermill and write the run's files.

    Arguments:
        force: force preset name.
        month: report month ``YYYY-MM``; it must be loaded in the store.
        db: the DuckDB store (only read: opened read-only, as the notebook must too).
        out: reports folder; the run writes ``<out>/<force>/<month>/``.
        seed: the report's seed (recorded in the manifest).
        pdf: also print ``report.pdf`` with headless Chromium (a warning if it is absent).
        template: notebook template, a name in ``notebooks/`` or a path.
        progress: show papermill's progress bar over the notebook's cells.

    Returns:
        ``{"month", "report_dir", "pdf" (path or None), "manifest"}``.

    Notes:
        Writes ``report.ipynb`` (executed), ``report.html`` (no code), ``figures/*.png`` and
        ``tables/*.csv`` (written by the notebook) and ``manifest.json`` (docs/data_contract.md
        section 3); an earlier run's files there are removed first. The manifest hashes every
        input of the loaded months in the :data:`INPUT_SPAN_MONTHS` months ending with
        ``month`` (:func:`report_inputs`). Raises :class:`ReportError` if the notebook fails
        or the store's inputs change while it runs.
    """

    force = load_force(force).name  # the canonical name, used for every path
    _check_month(month)
    db = Path(db).resolve()
    with _open_store(db) as st:
        loaded = sorted(st.loaded_months())
        if month not in loaded:
            raise _missing_months_error([month], db, loaded)
        whose = st.require_force(force, month)  # refused here, before papermill starts
        inputs, input_months = report_inputs(st, month, force=whose)
    report_dir = (Path(out) / force / month).resolve()
    report_dir.mkdir(parents=True, exist_ok=True)
    _clear_outputs(report_dir)
    params = {
        "force": force,
        "month": month,
        "db": str(db),
        "seed": int(seed),
        "out_dir": str(report_dir),
    }
    nb_out = report_dir / "report.ipynb"
    _quiet_papermill()
    try:
        pm.execute_notebook(
            str(_template(template)),
            str(nb_out),
            parameters=params,
            cwd=str(report_dir),
            progress_bar=progress,
            log_output=False,
            config=_kernel_config(),
        )
    except PapermillExecutionError as exc:
        raise _cell_error(exc, month, nb_out) from None
    title = f"{load_force(force).title}: victim satisfaction, {month_label(month)}"
    notebook_to_html(nb_out, report_dir / "report.html", title=title)
    with _open_store(db) as st:
        after, _ = report_inputs(st, month, force=whose)
    if after != inputs:
        changed = sorted(set(after.items()) ^ set(inputs.items()))
        raise ReportError(
            f"{month}: the store's inputs changed while the report ran ({len(changed)} "
            f"file hash(es) differ, e.g. {changed[0][0]}); no manifest written: rerun the report"
        )
    public_params = {k: v for k, v in params.items() if k not in ("db", "out_dir")}
    manifest = write_manifest(report_dir, public_params, inputs, input_months)
    pdf_path = _print_pdf(report_dir / "report.html", report_dir / "report.pdf") if pdf else None
    return {
        "month": month,
        "report_dir": str(report_dir),
        "pdf": str(pdf_path) if pdf_path else None,
        "manifest": str(manifest),
    }


# --------------------------------------------------------------------------- several months


def _report_job(kwargs: dict) -> dict:
    """Run one month's report; never raises (the parent gathers every month's outcome).

    Returns:
        ``{"month", "result" | None, "error" | None, "traceback" | None, "warnings": [...]}``.
    """

    month = kwargs["month"]
    out: dict = {"month": month, "result": None, "error": None, "traceback": None}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            out["result"] = run_report(**kwargs)
        except Exception as exc:  # noqa: BLE001 - reported by the parent with the month
            text = str(exc)
            prefix = f"{month}: "
            text = text[len(prefix) :] if text.startswith(prefix) else text
            if not isinstance(exc, WorkbenchError):
                text = f"{type(exc).__name__}: {text}"
            out["error"] = text
            out["traceback"] = traceback.format_exc()
    out["warnings"] = [str(w.message) for w in caught]
    return out


def run_reports(
    force: str,
    months: list[str],
    db: str | Path,
    out: str | Path = "reports",
    seed: int = 20250101,
    jobs: int = 1,
    pdf: bool = False,
    progress: bool = True,
    template: str | Path = "monthly_report.ipynb",
) -> list[dict]:
    """Run the monthly report for several months, ``jobs`` at a time, each in its own process.

    Arguments:
        force: force preset name.
        months: report months ``YYYY-MM`` (e.g. from :func:`month_range`); each must be loaded.
        db: the DuckDB store (opened read-only, by every process).
        out, seed, pdf, template: as :func:`run_report`.
        jobs: how many months run at once. With 1 they run one after the other in this process
            (each still starts its own kernel); with more, each month runs in a fresh worker
            process (``spawn``) with its own kernel.
        progress: a progress bar over months (tqdm, on stderr).

    Returns:
        one :func:`run_report` result per month, in month order.

    Raises:
        UsageError: before any work, for no or repeated months, months not loaded in the store,
            or ``jobs < 1``.
        ReportsFailed: after every month has run, if any failed: names each failed month and
            its error; the other months' reports are complete.

    Notes:
        Warns (with the figures) when ``jobs`` exceeds ``os.cpu_count()``. Every month is
        computed exactly as by :func:`run_report` alone, so the tables do not depend on ``jobs``.
        Worker processes are spawned, so a script calling this with ``jobs > 1`` must do so
        under ``if __name__ == "__main__":`` (as ``vsw`` does).
    """

    force = load_force(force).name  # the canonical name, used for every path
    months = [_check_month(m) for m in months]
    if not months:
        raise UsageError("no months to report: give --month, or --from and --to")
    dupes = sorted({m for m in months if months.count(m) > 1})
    if dupes:
        raise UsageError(f"months repeated: {', '.join(dupes)}")
    if not isinstance(jobs, int) or jobs < 1:
        raise UsageError(f"--jobs must be at least 1, got {jobs}")
    db = Path(db).resolve()
    loaded = loaded_months(db)  # a month of another force is refused by run_report, by name
    missing = [m for m in months if m not in loaded]
    if missing:
        raise _missing_months_error(missing, db, loaded)
    cpus = os.cpu_count() or 1
    if jobs > cpus:
        warnings.warn(
            f"--jobs {jobs} exceeds the {cpus} CPU(s) of this machine: the {jobs} report "
            f"kernels will share {cpus} CPU(s) and each run slower; --jobs {cpus} is enough",
            stacklevel=2,
        )
    if pdf and chromium_path() is None:
        warnings.warn(_NO_CHROMIUM, stacklevel=2)
        pdf = False
    months = sorted(months)
    base = {"force": force, "db": db, "out": out, "seed": seed, "pdf": pdf, "template": template}
    tasks = [{**base, "month": m} for m in months]
    workers = min(jobs, len(months))
    outcomes: dict[str, dict] = {}
    bar = tqdm(total=len(months), desc=f"reports {force}", unit="month", disable=not progress)
    try:
        if workers == 1:
            for task in tasks:
                outcomes[task["month"]] = _report_job(task)
                bar.update()
        else:
            ctx = get_context("spawn")  # no inherited store connections, locks or threads
            with ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as pool:
                futures = {pool.submit(_report_job, t): t["month"] for t in tasks}
                for fut in as_completed(futures):
                    month = futures[fut]
                    try:
                        outcomes[month] = fut.result()
                    except Exception as exc:  # noqa: BLE001 - a worker died (killed, OOM)
                        outcomes[month] = {
                            "month": month,
                            "result": None,
                            "error": f"its worker process died ({type(exc).__name__}: {exc})",
                            "traceback": None,
                            "warnings": [],
                        }
                    bar.update()
    finally:
        bar.close()
    for month in months:
        for msg in outcomes[month]["warnings"]:
            warnings.warn(f"{month}: {msg}", stacklevel=2)
    failed = {m: outcomes[m]["error"] for m in months if outcomes[m]["error"] is not None}
    results = [outcomes[m]["result"] for m in months if outcomes[m]["result"] is not None]
    if failed:
        lines = "\n".join(f"  {m}: {e}" for m, e in failed.items())
        done = f"; the other {len(results)} are complete in {Path(out)}" if results else ""
        raise ReportsFailed(
            f"{len(failed)} of {len(months)} monthly reports failed{done}:\n{lines}",
            failures=failed,
            details={m: outcomes[m]["traceback"] for m in failed if outcomes[m]["traceback"]},
            results=results,
        )
    return results


if __name__ == "__main__":  # pragma: no cover
    sys.exit("use the `vsw report` command")
