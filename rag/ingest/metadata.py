"""Document metadata: title, date, source URL, publisher and kind, from what the file says.
Takes what a file and its sidecar say; gives normalised dates, publishers, kinds and derived titles.

Order of trust: the user's sidecar/manifest, then the file's own metadata (YAML front matter,
HTML head), then the content (site chrome, speaker labels). A date is only ever taken from
metadata - never guessed from the text or the file name.
"""
from __future__ import annotations

import datetime as dt
import re
from typing import Any, Optional
from urllib.parse import urlparse

from rag.records import KINDS, OFFICIAL, QUESTIONER, STATE, WHITE_HOUSE, Turn

_HOSTS = {"whitehouse.gov": WHITE_HOUSE, "bidenwhitehouse.archives.gov": WHITE_HOUSE,
          "obamawhitehouse.archives.gov": WHITE_HOUSE, "trumpwhitehouse.archives.gov": WHITE_HOUSE,
          "state.gov": STATE, "2021-2025.state.gov": STATE, "2017-2021.state.gov": STATE,
          "2009-2017.state.gov": STATE}
_PUBLISHER_NAMES = {"white house": WHITE_HOUSE, "the white house": WHITE_HOUSE, "whitehouse": WHITE_HOUSE,
                    "state department": STATE, "department of state": STATE, "u.s. department of state": STATE,
                    "state": STATE}
# (pattern over title / category / URL, kind): first match wins
_KIND_RULES = (
    (r"background (?:press )?(?:call|briefing)|on[- ]background|background-(?:press-)?(?:call|briefing)",
     "background call"),
    (r"gaggle", "gaggle"),
    (r"as prepared for delivery|remarks as (?:prepared|delivered)|pre-taped remarks", "remarks"),
    (r"interview|town hall|conversation with|fireside chat", "interview"),
    (r"press (?:briefing|conference|availability)|press-briefings|briefing", "press briefing"),
    (r"statement|readout|proclamation|fact sheet|statements-releases", "statement"),
    (r"remarks|speech|address|toast|speeches-remarks", "remarks"),
)
_DATE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})")


def iso_date(value: Any) -> Optional[str]:
    """YYYY-MM-DD from a YAML date, datetime or date-like string; None when it is not one."""
    if isinstance(value, (dt.date, dt.datetime)):
        return value.strftime("%Y-%m-%d")
    if value is None:
        return None
    m = _DATE.match(str(value).strip())
    if not m:
        for fmt in ("%B %d, %Y", "%b %d, %Y", "%d %B %Y", "%m/%d/%Y"):
            try:
                return dt.datetime.strptime(str(value).strip(), fmt).date().isoformat()
            except ValueError:
                pass
        return None
    try:
        return dt.date(int(m[1]), int(m[2]), int(m[3])).isoformat()
    except ValueError:
        return None


def publisher_of(url: Optional[str] = None, name: Optional[str] = None, site: Optional[str] = None) -> Optional[str]:
    if name:
        found = _PUBLISHER_NAMES.get(str(name).strip().lower())
        if found:
            return found
        if str(name) in (STATE, WHITE_HOUSE):
            return str(name)
    if url:
        host = (urlparse(str(url)).hostname or "").lower().removeprefix("www.")
        for suffix, pub in _HOSTS.items():
            if host == suffix or host.endswith("." + suffix):
                return pub
    return site


def kind_of(*texts: Optional[str], turns: Optional[list[Turn]] = None) -> str:
    """Kind from title / category / URL; failing that, from the turns (speaker labels, 'on background')."""
    for text in texts:  # in order of trust: the first that names a kind decides
        text = str(text or "").lower().replace("briefing-room", "")
        for pattern, kind in _KIND_RULES:
            if text and re.search(pattern, text):
                return kind
    if turns:
        opening = " ".join(t.text for t in turns[:4]).lower()
        labels = {t.speaker for t in turns if t.speaker}
        if "on background" in opening or any("SENIOR" in s and "OFFICIAL" in s for s in labels):
            return "background call"
        roles = {t.role for t in turns}
        if QUESTIONER in roles:
            return "press briefing"
        if labels:
            return "remarks"
        return "statement"
    return "other"


def normalise_kind(value: Optional[str]) -> Optional[str]:
    if not value:
        return None
    v = str(value).strip().lower()
    return v if v in KINDS else kind_of(v) if kind_of(v) != "other" else None


def _title_case(label: str) -> str:
    return " ".join(w.capitalize() if w not in ("OF", "THE", "AND") or i == 0 else w.lower()
                    for i, w in enumerate(label.split()))


def derived_title(stem: str, kind: str, publisher: Optional[str], turns: list[Turn]) -> str:
    """A readable title for a file without metadata: kind, publisher and main speakers, then the file name."""
    officials: list[str] = []
    for t in turns:
        if t.role == OFFICIAL and t.speaker and t.speaker not in officials:
            officials.append(t.speaker)
    head = kind.capitalize()
    if publisher:
        head += f" ({publisher})"
    if officials:
        shown = ", ".join(_title_case(s) for s in officials[:3]) + (" and others" if len(officials) > 3 else "")
        head += f" with {shown}"
    return f"{head} [{stem}]"
