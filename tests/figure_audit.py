"""What every figure of the course must have: a title, and a label on each axis that shows numbers.

:data:`KERNEL_HOOK` is code run in a notebook's kernel before its first cell: it wraps matplotlib's
``print_figure`` (what the inline backend calls to draw a figure into the notebook, also after
``plt.show()``), so every figure a notebook shows is audited by :func:`figure_problems` as it is drawn.
:data:`KERNEL_REPORT` prints what was found, one JSON line after :data:`REPORT_MARKER`.
"""

from __future__ import annotations

import inspect
from typing import Any

REPORT_MARKER = "MTML-FIGURE-AUDIT "


def figure_problems(fig: Any) -> list[str]:
    """What a figure lacks: a title (its own or one per panel) and axis labels where an axis shows numbers.

    Colour bars and panels without data are not judged; an axis whose tick labels are words (bar names,
    heat-map rows) or that shows no ticks (images) needs no label.

    Example:
        >>> import matplotlib; matplotlib.use("Agg"); import matplotlib.pyplot as plt
        >>> fig, ax = plt.subplots(); _ = ax.plot([0, 1], [1, 2]); _ = ax.set_xlabel("step")
        >>> figure_problems(fig)
        ['panel 1: no title', 'panel 1: no y label']
        >>> _ = ax.set(title="Loss", ylabel="loss"); figure_problems(fig)
        []
    """
    import re

    def shows_numbers(axis: Any) -> bool:
        formatter = axis.get_major_formatter()
        kind = type(formatter).__name__
        if not axis.get_visible() or not len(axis.get_ticklocs()) or kind in ("NullFormatter",
                                                                              "StrCategoryFormatter"):
            return False
        # Words as tick labels (set_xticks(..., labels=names), 'N=2') name the categories themselves.
        texts = getattr(formatter, "seq", None) or [t.get_text() for t in axis.get_ticklabels()]
        numeric = re.compile(r"[\s\d.,eE%+\-\u2212\u00d7]*")  # 0.5, -1e-3, 50 %, 2×
        return all(numeric.fullmatch(re.sub(r"\$.*?\$", "", str(t))) for t in texts)

    problems = []
    suptitle = fig._suptitle.get_text() if getattr(fig, "_suptitle", None) is not None else ""
    panels = [ax for ax in fig.axes if ax.get_label() != "<colorbar>" and ax.axison and ax.has_data()]
    for number, ax in enumerate(panels, start=1):
        if not suptitle and not ax.get_title() and not ax.get_title("left") and not ax.get_title("right"):
            problems.append(f"panel {number}: no title")
        if shows_numbers(ax.xaxis) and not ax.get_xlabel():
            problems.append(f"panel {number}: no x label")
        if shows_numbers(ax.yaxis) and not ax.get_ylabel():
            problems.append(f"panel {number}: no y label")
    return problems


KERNEL_HOOK = "from typing import Any\n\n" + inspect.getsource(figure_problems) + '''
import matplotlib.backend_bases as _mtml_backend_bases

_mtml_figure_report = []
_mtml_print_figure = _mtml_backend_bases.FigureCanvasBase.print_figure


def _mtml_audited_print_figure(self, *args, **kwargs):
    shell = get_ipython()
    first_line = ((shell.user_ns.get("In") or [""])[-1].strip().splitlines() or [""])[0][:60]
    for problem in figure_problems(self.figure):
        _mtml_figure_report.append(f"cell [{shell.execution_count}] {first_line!r}: {problem}")
    return _mtml_print_figure(self, *args, **kwargs)


_mtml_backend_bases.FigureCanvasBase.print_figure = _mtml_audited_print_figure
'''
KERNEL_REPORT = f"import json as _json; print({REPORT_MARKER!r} + _json.dumps(_mtml_figure_report))"
