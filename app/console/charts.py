"""Server-side SVG charts: the only module that imports pygal.

Each point's value and day are in the SVG (`<desc class="value">`, `<desc class="x_label">`),
and no script is referenced: pygal's default tooltip script lives on another site."""

import math
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

import pygal
from pygal.style import Style

# pygal appends an import hook for its map plugins (unused here) to sys.meta_path, one
# without `find_spec`: from then on every import that finds no module (an optional
# dependency's probe) passes through it and Python warns, which `filterwarnings = error`
# turns into a failed import. Take it out again.
sys.meta_path[:] = [
    finder for finder in sys.meta_path if not isinstance(finder, pygal.PluginImportFixer)
]

# Colours distinguishable with common colour blindness (Okabe-Ito), dark enough on white.
_STYLE = Style(
    background="transparent",
    plot_background="#ffffff",
    foreground="#111827",
    foreground_strong="#111827",
    foreground_subtle="#6b7280",
    font_family='system-ui, -apple-system, "Segoe UI", Roboto, sans-serif',
    label_font_size=15,
    major_label_font_size=15,
    legend_font_size=17,
    colors=("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000"),
)


@dataclass(frozen=True)
class Series:
    name: str
    values: Sequence[int]


def _whole_number_ticks(top: int, most: int = 6) -> list[int]:
    """Counts are whole: y-axis ticks at whole numbers (pygal would put them at 0.2, 0.4...)."""
    step = max(1, math.ceil(top / (most - 1)))
    return list(range(0, max(top, 1) + step, step))


def per_day(days: Sequence[date], series: Sequence[Series], *, label_every: int = 15) -> str:
    """A line per series over `days` (each series has a value per day), as inline SVG."""
    top = max((max(one.values, default=0) for one in series), default=0)
    chart = pygal.Line(
        style=_STYLE,
        js=[],
        width=640,
        height=400,
        legend_at_bottom=True,
        truncate_legend=-1,
        truncate_label=-1,
        show_minor_x_labels=False,
        x_labels_major_every=label_every,
        x_label_rotation=0,
        y_labels=_whole_number_ticks(top),
        dots_size=2,
        no_data_text="No shows yet",
    )
    chart.x_labels = [day.isoformat() for day in days]
    for one in series:
        chart.add(one.name, list(one.values))
    svg: str = chart.render(is_unicode=True, disable_xml_declaration=True)
    return svg
