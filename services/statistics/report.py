"""A release as a person reads it: an HTML page rendered on the server, one bar chart (SVG) per table, and CSV.

Pure: no I/O. The charts are drawn here as plain SVG (no script, no external asset, so the page renders the
same on a closed network); a suppressed count is drawn as no bar and written "suppressed", never as zero.
"""

from __future__ import annotations

import csv
import io
from html import escape

from schemas.statistics import DisclosureMode, StatisticsReleased, Table

TOTAL = "total"
_BAR_HEIGHT = 18
_WIDTH = 480


def csv_of(table: Table) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([table.row_dimension, table.column_dimension, "count", "suppressed"])
    for cell in table.cells:
        writer.writerow([cell.row, cell.column, "" if cell.count is None else cell.count, cell.suppressed or ""])
    return out.getvalue()


def chart(table: Table) -> str:
    """Bars of the row totals (the table's margin), scaled to the largest published one."""
    totals = {c.row: c.count for c in table.cells if c.column == TOTAL and c.row != TOTAL}
    top = max((v for v in totals.values() if v is not None), default=0) or 1
    bars = []
    for i, row in enumerate(table.rows):
        y = i * (_BAR_HEIGHT + 6)
        value = totals.get(row)
        label = "suppressed" if value is None else str(value)
        width = 0 if value is None else round(value / top * (_WIDTH - 220))
        bars.append(f'<text x="0" y="{y + 13}" font-size="12">{escape(row)}</text>'
                    f'<rect class="bar" x="170" y="{y}" width="{width}" height="{_BAR_HEIGHT}" fill="#2b6cb0"/>'
                    f'<text x="{175 + width}" y="{y + 13}" font-size="12">{label}</text>')  # fmt: skip
    height = len(table.rows) * (_BAR_HEIGHT + 6)
    return (f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" width="{_WIDTH}" height="{height}" '
            f'aria-label="{escape(table.title)}">{"".join(bars)}</svg>')  # fmt: skip


def html_table(table: Table) -> str:
    by = {(c.row, c.column): c for c in table.cells}
    head = "".join(f"<th>{escape(c)}</th>" for c in (*table.columns, TOTAL))
    body = []
    for row in (*table.rows, TOTAL):
        cells = []
        for column in (*table.columns, TOTAL):
            cell = by[(row, column)]
            cells.append("<td>–</td>" if cell.count is None else f"<td>{cell.count}</td>")
        body.append(f"<tr><th>{escape(row)}</th>{''.join(cells)}</tr>")
    return (f"<table><thead><tr><th>{escape(table.row_dimension)} \\ {escape(table.column_dimension)}</th>{head}"
            f"</tr></thead><tbody>{''.join(body)}</tbody></table>")  # fmt: skip


def page(release: StatisticsReleased) -> str:
    sections = []
    for table in release.tables:
        link = f"{escape(release.release_id)}/tables/{escape(table.name)}.csv"
        sections.append(f'<section><h2>{escape(table.title)}</h2>{chart(table)}{html_table(table)}'
                        f'<p><a href="{link}">CSV</a></p></section>')  # fmt: skip
    durations = "".join(
        f"<tr><th>{escape(d.step)}</th>"
        + ("<td colspan='4'>fewer than k cases</td>" if d.cases is None
           else f"<td>{d.cases}</td><td>{d.q1_days:g}</td><td>{d.median_days:g}</td><td>{d.q3_days:g}</td>")
        + "</tr>"
        for d in release.durations
    )  # fmt: skip
    cases = "fewer than k" if release.cases is None else str(release.cases)
    if release.mode is DisclosureMode.DIFFERENTIAL_PRIVACY:
        protection = (f"Every count carries random noise (differential privacy, epsilon {release.epsilon:g}; discrete "
                      f"Laplace of scale {release.noise_scale:g}): a count may differ from the truth by a few "
                      "cases, totals are sums of the noisy counts, durations are not released.")  # fmt: skip
    else:
        protection = f'Every published count is at least {release.k}; "–" is suppressed.'
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Harbour statistics {escape(release.release_id)}</title>
<style>body{{font-family:sans-serif;max-width:60em;margin:2em auto}}td,th{{padding:2px 8px;text-align:right}}</style>
</head><body>
<h1>Victims of trafficking admitted in {release.period} (release {escape(release.release_id)})</h1>
<p>Cases counted: {cases}. {escape(protection)}
Released on {release.released_on.isoformat()}{", public" if release.public else ", for the national rapporteur"}.</p>
{"".join(sections)}
<section><h2>Days between steps</h2><table><thead><tr><th>step</th><th>cases</th><th>first quartile</th>
<th>median</th><th>third quartile</th></tr></thead><tbody>{durations}</tbody></table></section>
</body></html>
"""
