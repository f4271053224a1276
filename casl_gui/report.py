"""Inspection reports as HTML (one self-contained file) or PDF (Qt's own PDF writer).

:class:`ReportContent` holds everything a report shows as plain text rows and PNG
images; :func:`report_html` lays it out; :func:`write_report` writes it atomically,
``.html`` with the images embedded as data URLs, ``.pdf`` through ``QTextDocument`` and
``QPdfWriter`` (no extra dependency).
"""

from __future__ import annotations

import base64
import html
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from PySide6.QtCore import QBuffer, QByteArray, QIODevice, QMarginsF, QUrl
from PySide6.QtGui import QImage, QPageLayout, QPageSize, QPdfWriter, QTextDocument

from casl_core.atomic import atomic_write_bytes
from casl_core.errors import ConfigError

Rows = list[tuple[str, str]]


@dataclass(frozen=True)
class ReportImage:
    """A picture in the report: a caption and PNG bytes."""

    caption: str
    png: bytes
    width_px: int = 0


@dataclass(frozen=True)
class ReportContent:
    """What a report says.

    Attributes
    ----------
    title:
        Heading (the scan's name).
    created:
        When it was made (UTC, ISO 8601).
    verdict:
        ``"PASS ..."``/``"FAIL ..."`` line, or ``""`` when unknown.
    scan, colouring, curvature, model, metrics:
        Two-column tables (name, value).
    region_header, regions:
        The regions table (header and rows).
    annotation_header, annotations:
        The annotations table.
    images:
        Screenshots (both views) and the threshold histogram.
    """

    title: str
    created: str
    verdict: str
    scan: Rows
    colouring: Rows
    curvature: Rows
    model: Rows
    metrics: Rows
    region_header: tuple[str, ...]
    regions: list[list[str]]
    annotation_header: tuple[str, ...]
    annotations: list[list[str]]
    images: list[ReportImage] = field(default_factory=list)


_STYLE = """
body { font-family: 'DejaVu Sans', Arial, sans-serif; font-size: 10pt; color: #1b1d22; }
h1 { font-size: 17pt; margin-bottom: 2px; }
h2 { font-size: 12.5pt; margin-top: 14px; margin-bottom: 4px; color: #2b3a55; }
table { border-collapse: collapse; }
td, th { border: 1px solid #b9bec8; padding: 2px 6px; }
th { background-color: #e7eaf0; text-align: left; }
.pass { color: #1f9d55; font-weight: bold; font-size: 13pt; }
.fail { color: #e3342f; font-weight: bold; font-size: 13pt; }
.meta { color: #5a606b; }
"""


def _pairs(rows: Rows) -> str:
    if not rows:
        return "<p class='meta'>–</p>"
    body = "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>" for k, v in rows)
    return f"<table cellspacing='0' cellpadding='3'>{body}</table>"


def _table(header: tuple[str, ...], rows: list[list[str]], empty: str) -> str:
    if not rows:
        return f"<p class='meta'>{html.escape(empty)}</p>"
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table cellspacing='0' cellpadding='3'><tr>{head}</tr>{body}</table>"


def report_html(content: ReportContent, image_src: Callable[[int, ReportImage], str]) -> str:
    """The report as HTML; ``image_src(i, image)`` gives each image's ``src``."""
    verdict_class = "fail" if content.verdict.startswith("FAIL") else "pass"
    verdict = (
        f"<p class='{verdict_class}'>{html.escape(content.verdict)}</p>"
        if content.verdict
        else "<p class='meta'>No verdict: colour by a score field to find regions.</p>"
    )
    images = "".join(
        f"<p><img src='{image_src(i, img)}'{f' width={img.width_px}' if img.width_px else ''}><br>"
        f"<span class='meta'>{html.escape(img.caption)}</span></p>"
        for i, img in enumerate(content.images)
    )
    parts = [
        f"<h1>Inspection report: {html.escape(content.title)}</h1>",
        f"<p class='meta'>CASL Inspector, {html.escape(content.created)}</p>",
        verdict,
        images,
        "<h2>Scan</h2>",
        _pairs(content.scan),
        "<h2>Colouring and threshold</h2>",
        _pairs(content.colouring),
        "<h2>Curvature scales</h2>",
        _pairs(content.curvature),
        "<h2>Model</h2>",
        _pairs(content.model),
        "<h2>Metrics</h2>",
        _pairs(content.metrics),
        "<h2>Regions above the threshold</h2>",
        _table(content.region_header, content.regions, "No region."),
        "<h2>Annotations</h2>",
        _table(content.annotation_header, content.annotations, "No annotation."),
    ]
    return (
        "<!DOCTYPE html><html><head><meta charset='utf-8'>"
        f"<title>{html.escape(content.title)}</title><style>{_STYLE}</style></head><body>"
        + "\n".join(parts)
        + "</body></html>"
    )


def _data_url(_i: int, image: ReportImage) -> str:
    return "data:image/png;base64," + base64.b64encode(image.png).decode("ascii")


def html_bytes(content: ReportContent) -> bytes:
    """A self-contained HTML file (images embedded)."""
    return report_html(content, _data_url).encode("utf-8")


def pdf_bytes(content: ReportContent) -> bytes:
    """The report as an A4 PDF."""
    doc = QTextDocument()
    for i, image in enumerate(content.images):
        doc.addResource(
            QTextDocument.ResourceType.ImageResource, QUrl(f"report-image-{i}"), QImage.fromData(image.png, "PNG")
        )
    doc.setHtml(report_html(content, lambda i, _img: f"report-image-{i}"))
    data = QByteArray()
    buffer = QBuffer(data)
    buffer.open(QIODevice.OpenModeFlag.WriteOnly)
    writer = QPdfWriter(buffer)
    writer.setTitle(f"Inspection report: {content.title}")
    writer.setCreator("CASL Inspector")
    writer.setResolution(110)
    writer.setPageLayout(
        QPageLayout(
            QPageSize(QPageSize.PageSizeId.A4),
            QPageLayout.Orientation.Portrait,
            QMarginsF(12, 12, 12, 12),
            QPageLayout.Unit.Millimeter,
        )
    )
    doc.print_(writer)
    del writer  # finishes the PDF into the buffer
    buffer.close()
    return bytes(data.data())


def write_report(path: str | os.PathLike[str], content: ReportContent) -> None:
    """Write the report to ``path``: ``.html``/``.htm`` or ``.pdf``, atomically.

    Raises
    ------
    ConfigError
        If the suffix is neither, or the file cannot be written.
    """
    suffix = Path(path).suffix.lower()
    if suffix in (".html", ".htm"):
        data = html_bytes(content)
    elif suffix == ".pdf":
        data = pdf_bytes(content)
    else:
        raise ConfigError(f"{path}: a report is written as .html or .pdf, not {suffix or 'a file without suffix'}")
    try:
        atomic_write_bytes(path, data)
    except OSError as exc:
        raise ConfigError(f"{path}: cannot write the report: {exc.strerror or exc}") from None
