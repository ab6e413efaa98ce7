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
# The SVG is drawn WIDTH px wide and never shown wider (console.css), so these sizes are the
# sizes read on a desktop; a phone shrinks them with the chart.
_STYLE = Style(
    background="transparent",
    plot_background="#ffffff",
    foreground="#111827",
    foreground_strong="#111827",
    foreground_subtle="#6b7280",
    font_family='system-ui, -apple-system, "Segoe UI", Roboto, sans-serif',
    label_font_size=12,
    major_label_font_size=12,
    legend_font_size=13,
    colors=("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000"),
)
WIDTH = 640
HEIGHT = 320
MOST_Y_TICKS = 6
MOST_X_LABELS = 6
TICK_STEPS = (1, 2, 5)  # times a power of ten: 10, 20, 50, 100, 200...


@dataclass(frozen=True)
class Series:
    name: str
    values: Sequence[int]


def count_ticks(top: int, most: int = MOST_Y_TICKS) -> list[int]:
    """Ticks for counts from 0 to `top`: whole numbers a readable step apart (1, 2 or 5 times
    a power of ten), at most `most` of them, the last at or above `top`."""
    top = max(top, 1)
    magnitude = 1
    while True:
        for base in TICK_STEPS:
            step = base * magnitude
            if math.ceil(top / step) + 1 <= most:
                return list(range(0, math.ceil(top / step) * step + 1, step))
        magnitude *= 10


def from_first_data(
    starts: Sequence[date], series: Sequence[Series]
) -> tuple[list[date], list[Series]]:
    """The periods from the first one with a count above zero in any series (all of them if
    none has one): a chart of mostly flat zeros before a show began says nothing."""
    first = next((i for i in range(len(starts)) if any(one.values[i] for one in series)), 0)
    return list(starts[first:]), [Series(one.name, one.values[first:]) for one in series]


def per_period(
    starts: Sequence[date], series: Sequence[Series], *, no_data: str = "No downloads yet"
) -> str:
    """A line per series over the periods (days or weeks) beginning on `starts`, each series
    with a value per period, as inline SVG."""
    top = max((max(one.values, default=0) for one in series), default=0)
    chart = pygal.Line(
        style=_STYLE,
        js=[],
        width=WIDTH,
        height=HEIGHT,
        legend_at_bottom=True,
        truncate_legend=-1,
        truncate_label=-1,
        show_minor_x_labels=False,
        x_labels_major_every=max(1, math.ceil(len(starts) / MOST_X_LABELS)),
        x_label_rotation=0,
        # pygal places fixed y labels only with a series to adapt them to: none (no show
        # yet) fails with an AttributeError, and draws its no_data text without them.
        y_labels=count_ticks(top) if series else None,
        dots_size=2,
        no_data_text=no_data,
    )
    chart.x_labels = [start.isoformat() for start in starts]
    for one in series:
        chart.add(one.name, list(one.values))
    svg: str = chart.render(is_unicode=True, disable_xml_declaration=True)
    return svg
