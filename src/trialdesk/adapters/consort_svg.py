"""CONSORT 2010 flow diagram from the analysis' CONSORT counts, as standalone SVG (and as a matplotlib figure
for the PDF report). Both draw the same layout (:func:`consort_layout`): enrolment, allocation per Arm,
follow-up (discontinued treatment with reasons, left study), analysis (ITT and safety sets).
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from functools import cache
from html import escape
from typing import Any

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.patches import FancyArrowPatch, Rectangle

__all__ = ["Box", "consort_layout", "consort_svg", "consort_figure", "text_width"]

_LINE = 15.0  # px per text line
_PAD = 8.0
_SIZE = 12.0  # px, the SVG's font size


@cache
def _char_width(char: str) -> float:
    """A character's advance in px at the diagram's size, bold, in DejaVu Sans (matplotlib's font, and among the
    widest of the sans-serif faces a browser falls back to, so a line measured here fits in Helvetica or Arial too);
    wide (CJK) characters one em."""
    if unicodedata.east_asian_width(char) in ("W", "F"):
        return _SIZE
    from matplotlib.font_manager import FontProperties
    from matplotlib.textpath import TextToPath

    font = FontProperties(family="DejaVu Sans", weight="bold", size=_SIZE)
    width, _, _ = TextToPath().get_text_width_height_descent(char, font, ismath=False)
    return float(width)


def text_width(line: str) -> float:
    """The width of ``line`` in px at the diagram's size (bold, the widest it is drawn)."""
    return sum(_char_width(c) for c in line)


def _wrap(line: str, room: float) -> list[str]:
    """``line`` broken at spaces (within a word when one word is too long) into lines of at most ``room`` px; the
    continuation lines keep the line's indentation plus two spaces."""
    if text_width(line) <= room:
        return [line]
    indent = line[: len(line) - len(line.lstrip(" "))]
    out: list[str] = []
    current = indent
    for word in line.strip().split(" "):
        candidate = f"{current} {word}" if current.strip() else current + word
        if text_width(candidate) <= room:
            current = candidate
            continue
        if current.strip():
            out.append(current)
            current = indent + "  "
        while text_width(current + word) > room and len(word) > 1:  # a word longer than the box: cut it
            cut = len(word) - 1
            while cut > 1 and text_width(current + word[:cut]) > room:
                cut -= 1
            out.append(current + word[:cut])
            word, current = word[cut:], indent + "  "
        current += word
    if current.strip():
        out.append(current)
    return out


def _fit(lines: list[str] | tuple[str, ...], width: float) -> tuple[str, ...]:
    """A box's lines wrapped to its inner width, so no label runs past (or is clipped at) its edge."""
    return tuple(part for line in lines for part in _wrap(line, width - 2 * _PAD))


@dataclass(frozen=True)
class Box:
    """A box of the diagram; its lines are wrapped to its width when it is made."""

    id: str
    x: float
    y: float
    w: float
    lines: tuple[str, ...]
    bold_first: bool = True

    def __post_init__(self) -> None:
        object.__setattr__(self, "lines", _fit(self.lines, self.w))

    @property
    def h(self) -> float:
        return _PAD * 2 + _LINE * len(self.lines)


def _reasons(d: dict[str, int], indent: str = "  ") -> list[str]:
    return [f"{indent}{k} (n={v})" for k, v in d.items()]


def consort_layout(
    counts: dict[str, Any], arm_labels: dict[str, str] | None = None
) -> tuple[list[Box], list[tuple[str, str]], float, float]:
    """Boxes, arrows (from id, to id), width and height of the diagram."""
    labels = arm_labels or {}
    arms = counts["arms"]
    col_w = 330.0
    width = max(2, len(arms)) * (col_w + 30) + 30
    boxes: list[Box] = []
    arrows: list[tuple[str, str]] = []
    mid = width / 2
    y = 20.0
    assessed = Box("assessed", mid - 170, y, 340, (f"Assessed for eligibility (n={counts['assessed']})",))
    boxes.append(assessed)
    y += assessed.h + 25
    excl_lines = [f"Excluded (n={counts['excluded']})"] + _reasons(counts["excluded_reasons"])
    crit = counts.get("failed_criteria") or {}
    if crit:
        items = [f"{k} (n={v})" for k, v in list(crit.items())[:6]]
        excl_lines.append("  Most frequent criteria not met:")
        excl_lines += ["    " + ", ".join(items[i : i + 3]) for i in range(0, len(items), 3)]
    excluded = Box("excluded", mid + 20, y, width - mid - 40, tuple(excl_lines))
    boxes.append(excluded)
    arrows.append(("assessed", "excluded"))
    y += excluded.h + 25
    randomized = Box("randomized", mid - 170, y, 340, (f"Randomized (n={counts['randomized']})",))
    boxes.append(randomized)
    arrows.append(("assessed", "randomized"))
    y += randomized.h + 35
    rows: list[list[Box]] = [[], [], []]
    for k, a in enumerate(arms):
        x = 30 + k * (col_w + 30)
        name = labels.get(a["arm"], a["arm"])
        rows[0].append(
            Box(
                f"alloc{k}",
                x,
                0,
                col_w,
                (
                    f"Allocated to {name} (n={a['allocated']})",
                    f"  Received allocated treatment (n={a['received']})",
                    f"  Did not receive allocated treatment (n={a['not_received']})",
                ),
            )
        )
        rows[1].append(
            Box(
                f"follow{k}",
                x,
                0,
                col_w,
                tuple(
                    [f"Discontinued treatment (n={a['discontinued_treatment']})"]
                    + _reasons(a["discontinued_reasons"])
                    + [f"Still on treatment (n={a['on_treatment']})", f"Left the study (n={a['left_study']})"]
                    + _reasons(a["left_study_reasons"])
                ),
            )
        )
        rows[2].append(
            Box(
                f"analysis{k}",
                x,
                0,
                col_w,
                (
                    f"Analysed for efficacy, ITT (n={a['analysed_itt']})",
                    f"Analysed for safety (n={a['analysed_safety']})",
                ),
            )
        )
        arrows += [("randomized", f"alloc{k}"), (f"alloc{k}", f"follow{k}"), (f"follow{k}", f"analysis{k}")]
    for row in rows:
        h = max((b.h for b in row), default=0)
        for b in row:
            boxes.append(Box(b.id, b.x, y, b.w, b.lines))
        y += h + 35
    return boxes, arrows, width, y


def _anchor(src: Box, dst: Box) -> tuple[float, float, float, float]:
    if dst.id == "excluded":
        return src.x + src.w / 2, src.y + src.h, dst.x, dst.y + dst.h / 2
    return src.x + src.w / 2, src.y + src.h, dst.x + dst.w / 2, dst.y


def consort_svg(counts: dict[str, Any], arm_labels: dict[str, str] | None = None) -> str:
    """The CONSORT diagram as an SVG document (text is real ``<text>``, so it can be searched and tested)."""
    boxes, arrows, width, height = consort_layout(counts, arm_labels)
    by_id = {b.id: b for b in boxes}
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" height="{height:.0f}" '
        f'viewBox="0 0 {width:.0f} {height:.0f}" font-family="Helvetica, Arial, sans-serif" font-size="12" '
        'role="img" aria-label="CONSORT flow diagram">',
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" '
        'orient="auto-start-reverse"><path d="M 0 0 L 10 5 L 0 10 z" fill="#333"/></marker></defs>',
        '<rect width="100%" height="100%" fill="white"/>',
    ]
    for src, dst in arrows:
        x1, y1, x2, y2 = _anchor(by_id[src], by_id[dst])
        if dst == "excluded":
            out.append(
                f'<path d="M {x1:.1f} {y1:.1f} L {x1:.1f} {y2:.1f} L {x2:.1f} {y2:.1f}" fill="none" '
                'stroke="#333" marker-end="url(#arrow)"/>'
            )
        else:
            ym = (y1 + y2) / 2
            out.append(
                f'<path d="M {x1:.1f} {y1:.1f} L {x1:.1f} {ym:.1f} L {x2:.1f} {ym:.1f} L {x2:.1f} {y2:.1f}" '
                'fill="none" stroke="#333" marker-end="url(#arrow)"/>'
            )
    for b in boxes:
        out.append(
            f'<g id="consort-{b.id}"><rect x="{b.x:.1f}" y="{b.y:.1f}" width="{b.w:.1f}" height="{b.h:.1f}" '
            'fill="#f7f9fc" stroke="#333" rx="3"/>'
        )
        for i, line in enumerate(b.lines):
            weight = ' font-weight="bold"' if i == 0 and b.bold_first else ""
            out.append(
                f'<text x="{b.x + _PAD:.1f}" y="{b.y + _PAD + _LINE * (i + 0.8):.1f}"{weight} '
                f'xml:space="preserve">{escape(line)}</text>'
            )
        out.append("</g>")
    out.append("</svg>")
    return "\n".join(out)


def consort_figure(counts: dict[str, Any], arm_labels: dict[str, str] | None = None) -> Figure:
    """The same diagram as a matplotlib figure (pixels -> points at 100 px per inch), for PDF pages."""
    boxes, arrows, width, height = consort_layout(counts, arm_labels)
    by_id = {b.id: b for b in boxes}
    fig = Figure(figsize=(width / 100, height / 100))
    FigureCanvasAgg(fig)
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_xlim(0, width)
    ax.set_ylim(height, 0)
    ax.axis("off")
    for b in boxes:
        ax.add_patch(Rectangle((b.x, b.y), b.w, b.h, facecolor="#f7f9fc", edgecolor="#333"))
        for i, line in enumerate(b.lines):
            ax.text(
                b.x + _PAD,
                b.y + _PAD + _LINE * (i + 0.8),
                line,
                fontsize=8.5,
                va="baseline",
                weight="bold" if i == 0 and b.bold_first else "normal",
            )
    for src, dst in arrows:
        x1, y1, x2, y2 = _anchor(by_id[src], by_id[dst])
        if dst == "excluded":
            ax.plot([x1, x1], [y1, y2], color="#333", lw=0.8)
            ax.add_patch(FancyArrowPatch((x1, y2), (x2, y2), arrowstyle="-|>", mutation_scale=8, color="#333"))
        else:
            ym = (y1 + y2) / 2
            ax.plot([x1, x1, x2], [y1, ym, ym], color="#333", lw=0.8)
            ax.add_patch(FancyArrowPatch((x2, ym), (x2, y2), arrowstyle="-|>", mutation_scale=8, color="#333"))
    return fig
