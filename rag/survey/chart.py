"""The survey's chart: briefings per month (or quarter), stacked by who spoke.
Takes a `Survey`; gives the chart's rows (the UI's bar plot draws them) and a PNG or SVG file (matplotlib).

The rows are computed from the timeline alone, so the chart always shows the timeline's counts: each
statement is one briefing, stacked under its quote's speaker; the `TOP_SPEAKERS` who spoke in most briefings
have their own colour, the others share one.
"""
from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Union

from rag.errors import RagError
from rag.records import Survey
from rag.survey.compose import UNDATED, speaker_key, speaker_names

TOP_SPEAKERS = 5         # colours a reader can tell apart (readability, not tuned)
OTHERS = "other speakers"
FORMATS = (".png", ".svg")


def chart_rows(survey: Survey) -> list[dict]:
    """[{period, speaker, briefings}] for every dated period and speaker group with at least one briefing."""
    by_n = {s.n: s for s in survey.statements}
    names = speaker_names(survey.statements)
    quoted = Counter(speaker_key(s.speaker, s.date) for s in survey.statements)
    top = {k for k, _ in sorted(quoted.items(), key=lambda x: (-x[1], x[0]))[:TOP_SPEAKERS]}
    rows = []
    for p in survey.timeline:
        if p.label == UNDATED:
            continue
        counts: Counter = Counter()
        for n in p.statements:
            key = speaker_key(by_n[n].speaker, by_n[n].date)
            counts[names.get(key, by_n[n].speaker or OTHERS) if key in top else OTHERS] += 1
        rows += [{"period": p.label, "speaker": g, "briefings": c} for g, c in sorted(counts.items())]
    return rows


def chart_path(path: Union[str, Path]) -> Path:
    """`path` as a Path; RagError unless it ends in .png or .svg."""
    path = Path(path)
    if path.suffix.lower() not in FORMATS:
        raise RagError(f"{path}: the chart is written as {' or '.join(FORMATS)}; choose one of those suffixes")
    return path


def save_chart(survey: Survey, path: Union[str, Path]) -> Path:
    """Draw the chart into `path` (.png or .svg); RagError for another suffix or an empty survey."""
    path = chart_path(path)
    rows = chart_rows(survey)
    if not rows:
        raise RagError(f"{path}: nothing to chart: no dated briefing addresses “{survey.topic}”")
    import matplotlib                                         # heavy: only when a chart is drawn
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    periods = list(dict.fromkeys(r["period"] for r in rows))
    groups = sorted({r["speaker"] for r in rows}, key=lambda g: (g == OTHERS, g))
    table = {(r["period"], r["speaker"]): r["briefings"] for r in rows}
    fig, ax = plt.subplots(figsize=(max(6.0, 0.35 * len(periods) + 3), 4.2), dpi=120)
    bottom = [0] * len(periods)
    for g in groups:
        heights = [table.get((p, g), 0) for p in periods]
        ax.bar(periods, heights, bottom=bottom, label=g, color="#bbbbbb" if g == OTHERS else None)
        bottom = [a + b for a, b in zip(bottom, heights)]
    ax.set_ylabel("briefings")
    ax.set_title(f"“{survey.topic}”: briefings per {survey.granularity}")
    ax.yaxis.get_major_locator().set_params(integer=True)
    ax.tick_params(axis="x", labelrotation=60, labelsize=8)
    ax.legend(fontsize=8, frameon=False)
    fig.tight_layout()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path)
    except OSError as e:
        raise RagError(f"{path}: cannot write the chart ({e.strerror or e})") from None
    finally:
        plt.close(fig)
    return path
