"""Jinja2 templates to self-contained HTML, and HTML to PDF with WeasyPrint (no network)."""

from __future__ import annotations

import functools
from typing import Any

import jinja2

from microtrial import i18n
from microtrial.errors import ValidationError
from microtrial.reports import formatting

FORMATS = ("html", "pdf")
# The PDF's margin boxes (CSS ``content`` in _base.html), in the reader's language.
PAGE_FOOTER = i18n.N_("MicroTrial report · page %(page)s of %(pages)s")
SIMULATED_HEADER = i18n.N_("SIMULATED DEMO DATA — not a real patient")


@functools.lru_cache(maxsize=1)
def environment() -> jinja2.Environment:
    """The reports' template environment (autoescaped, strict about undefined names)."""
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("microtrial.reports", "templates"),
        autoescape=jinja2.select_autoescape(["html"]),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        extensions=["jinja2.ext.i18n"],
    )
    # The current language (i18n.speaking) of the report being rendered; English by default.
    env.install_gettext_callables(  # type: ignore[attr-defined]
        lambda message: i18n.gettext(message),
        lambda singular, plural, n: i18n.ngettext(singular, plural, n),
        newstyle=True,
        pgettext=lambda context, message: i18n.pgettext(context, message),
    )
    env.globals["lang"] = lambda: i18n.current()
    env.globals["grade_words"] = formatting.grade_words
    env.globals["symptom_term"] = formatting.symptom_term
    env.globals["arm_word"] = formatting.arm_word
    env.globals["stored_word"] = formatting.stored_word
    env.globals["model_warning"] = formatting.model_warning
    env.filters["local"] = formatting.local
    env.globals["margin_text"] = margin_text
    env.globals["PAGE_FOOTER"] = PAGE_FOOTER
    env.globals["SIMULATED_HEADER"] = SIMULATED_HEADER
    return env


def margin_text(message: str) -> str:
    """A CSS ``content`` value for a PDF margin box: ``message`` in the current language, its
    ``%(page)s`` and ``%(pages)s`` as the page counters (catalog text: trusted, quotes escaped)."""
    words = i18n.gettext(message).replace("\\", "").replace('"', '\\"')
    counters = {"page": '" counter(page) "', "pages": '" counter(pages) "'}
    return f'"{words % counters if "%(" in words else words}"'


def render_html(template: str, context: dict[str, Any]) -> str:
    """Render one template to an HTML string."""
    return environment().get_template(template).render(**context)


def _refuse_fetch(url: str, *_args: Any, **_kwargs: Any) -> dict[str, Any]:
    """WeasyPrint URL fetcher that serves only inline ``data:`` URLs (the report is offline)."""
    if url.startswith("data:"):
        from weasyprint.urls import default_url_fetcher  # type: ignore[import-untyped]

        result: dict[str, Any] = default_url_fetcher(url)
        return result
    raise ValueError(f"reports are self-contained; refusing to fetch {url[:80]!r}")


def html_to_pdf(html: str) -> bytes:
    """Lay out report HTML as an A4 PDF."""
    from weasyprint import HTML  # type: ignore[import-untyped]

    pdf: bytes = HTML(string=html, url_fetcher=_refuse_fetch).write_pdf()
    return pdf


def check_format(fmt: str) -> None:
    """Raise ValidationError unless ``fmt`` is html or pdf."""
    if fmt not in FORMATS:
        raise ValidationError("format", f"unknown report format {fmt!r}", allowed=FORMATS)


def finish(template: str, context: dict[str, Any], fmt: str) -> str | bytes:
    """Render ``template`` as HTML (str) or PDF (bytes)."""
    check_format(fmt)
    html = render_html(template, {**context, "pdf": fmt == "pdf"})
    return html if fmt == "html" else html_to_pdf(html)
