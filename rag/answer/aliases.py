"""Names that mean the same thing in a briefing: "U.S." for "the United States", "Japanese" for "Japan",
"Biden" for "the President" on a 2023 date. Takes a name from a claim and the words of the passage it cites;
gives whether the passage names the same thing. Used by the checker (rag.answer.verify), so that a claim which
writes out what the speaker said as "we" or "the President" is not refused, while a swapped name still is.

Each table says what it is for; none is tuned on a gold set. Office holders (rag.offices) come from the public
record (the White House and State Department archives) with the dates they took office.
"""
from __future__ import annotations

from typing import Optional

from rag.offices import holds_office, terms


# the United States by its names; its own officials mostly say "we" and "our" (every speaker we index is one,
# or a moderator introducing one)
US = {"u.s", "us", "usa", "u.s.a", "united", "states", "america", "american", "americans", "washington"}

# a people or adjective -> its country, where a shared prefix does not show it (japanese/japan does)
DEMONYMS = {"chinese": "china", "french": "france", "italian": "italy", "british": "britain", "dutch": "netherlands",
            "swiss": "switzerland", "greek": "greece", "turkish": "turkey", "polish": "poland", "danish": "denmark",
            "swedish": "sweden", "finnish": "finland", "norwegian": "norway", "spanish": "spain",
            "filipino": "philippines", "saudi": "arabia", "emirati": "emirates", "israeli": "israel",
            "pakistani": "pakistan", "iraqi": "iraq", "yemeni": "yemen", "qatari": "qatar", "kuwaiti": "kuwait",
            "afghan": "afghanistan", "afghans": "afghanistan", "welsh": "wales", "scottish": "scotland",
            "irish": "ireland", "peruvian": "peru", "prc": "china", "dprk": "korea", "rok": "korea",
            "soviet": "russia"}

# a capital or seat of power -> its country ("Beijing said", "the Kremlin's"); the answer gate reads it too, for a
# question that names a capital where the archive names the country (rag.answer.evidence)
CAPITALS = {"beijing": "china", "moscow": "russia", "kremlin": "russia", "pyongyang": "korea", "seoul": "korea",
            "kyiv": "ukraine", "kiev": "ukraine", "taipei": "taiwan", "tehran": "iran", "tokyo": "japan",
            "havana": "cuba", "minsk": "belarus", "ankara": "turkey", "delhi": "india", "jerusalem": "israel"}
COUNTRY_OF = {**DEMONYMS, **CAPITALS}


def implied_names(vocab: set[str]) -> set[str]:
    """Names a passage's words imply: "ROK", "Seoul" or "the Republic of Korea" name South Korea; "DPRK" or
    "Pyongyang" North Korea."""
    out = set()
    if vocab & {"rok", "seoul"} or {"republic", "korea"} <= vocab:
        out |= {"south", "korea"}
    if vocab & {"dprk", "pyongyang"}:
        out |= {"north", "korea"}
    return out


def _country(name: str) -> str:
    return COUNTRY_OF.get(name, name)


def _one_stem(a: str, b: str) -> bool:
    short, long = sorted((a, b), key=len)
    if len(short) < 4 or short == long:
        return short == long
    return long.startswith(short) or (short[-1] in "eao" and len(short) >= 5 and long.startswith(short[:-1]))


def same_name(name: str, vocab: set[str], date: Optional[str] = None) -> bool:
    """Whether the passage (its words, speaker, title and date in `vocab`, normalised as rag.lexicon.words does)
    names what `name` names."""
    if name in vocab:
        return True
    if "-" in name.strip("-"):   # "U.S.-Egyptian": each part
        return all(same_name(part.strip("."), vocab, date) for part in name.split("-") if part.strip("."))
    if name in US:   # officials of the U.S. government say "we" and "our" for it
        return bool(vocab & (US | {"we", "our", "ours"}))
    country = _country(name)
    if country in vocab or any(_country(w) == country for w in vocab if w in COUNTRY_OF):
        return True
    if any(_one_stem(country, w) for w in vocab):
        return True   # japanese/japan, ukrainians/ukraine, iranian/iran: the country's name begins the other
    if date:
        if any(office in vocab and holds_office(name, office, date) for office, _, _ in terms(name)):
            return True
    return False
