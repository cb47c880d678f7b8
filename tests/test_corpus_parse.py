"""Parse the whole CC0 corpus (../shared/corpus/wh-briefings, 3,794 markdown files): parsing only, no embedding.

Zero-label transcripts: a file whose text has no speaker label at all is a published text by one voice -
a statement, a release, or a speech posted "as prepared/as delivered". It is kept as ONE turn: the speaker
its title names as a byline ("Remarks as Prepared for Delivery by First Lady Jill Biden at ...",
rag.ingest.bylines), or unattributed (speaker None) when the title names nobody as its speaker (a readout,
a fact sheet). The test prints how many there are and what they are. Any other failure to parse is an error.
"""
from __future__ import annotations

import re
import time
from collections import Counter

import pytest

from rag.errors import InputError
from rag.ingest import find_files, read_transcript
from rag.ingest.bylines import title_speaker

pytestmark = pytest.mark.corpus

CHROME = ("An official website of the United States Government", "Stay Connected", "Scroll to Top",
          "Opt in to send and receive text messages")
TIME_LINE = re.compile(r"^(END\s*)?\d{1,2}:\d{2} [AP]\.M\. [A-Z]{2,4}$", re.M)


@pytest.fixture(scope="module")
def corpus(corpus_dir):
    files = find_files([corpus_dir])
    t0 = time.perf_counter()
    parsed, errors = [], []
    for f in files:
        try:
            parsed.append(read_transcript(f))
        except InputError as e:
            errors.append(e)
    took = time.perf_counter() - t0
    print(f"\nparsed {len(parsed)} of {len(files)} files in {took:.1f} s ({len(files) / took:.0f} files/s)")
    return files, parsed, errors


def test_every_file_parses(corpus, corpus_dir):
    files, parsed, errors = corpus
    md = sorted(corpus_dir.rglob("*.md"))
    assert len(md) == 3794
    # everything but the corpus README is a transcript
    assert sorted(set(md) - set(files)) == [corpus_dir / "README.md"]
    assert not errors, [str(e) for e in errors[:10]]
    assert len(parsed) == 3793
    for t in parsed:
        assert t.title and t.date and t.publisher == "White House" and t.source_url.startswith("https://")
        for x in t.turns:
            assert x.text.strip() and not TIME_LINE.search(x.text), (t.path, x.text[:80])
            assert not any(c in x.text for c in CHROME), (t.path, x.text[:80])
            assert (x.speaker is None) == (x.role == "unattributed")


def test_zero_label_transcripts_are_single_voice_texts(corpus):
    _, parsed, _ = corpus
    zero = [t for t in parsed if len(t.turns) == 1 and (t.turns[0].speaker is None
                                                       or t.turns[0].speaker == title_speaker(t.title))]
    kinds = Counter(t.kind for t in zero)
    named = Counter(t.turns[0].speaker for t in zero if t.turns[0].speaker)
    print(f"\n{len(zero)} of {len(parsed)} transcripts have no speaker label anywhere: {dict(kinds)}; "
          f"{sum(named.values())} are spoken by the one their title names, most often {named.most_common(4)}")
    print("Those left unattributed:")
    for t in zero:
        if t.turns[0].speaker is None:
            print(f"  [{t.kind}] {t.title[:100]}")
    for t in zero:
        assert t.kind in ("remarks", "statement")
        if t.turns[0].speaker is None:
            assert title_speaker(t.title) is None and t.turns[0].role == "unattributed"
        else:
            assert t.turns[0].role == "official"
    # label detection regressing would swell this group: today 304 single-voice texts (8.0 %): 294 with no label at
    # all (280 named by their title, 14 unattributed) and 10 whose one label is the title's byline
    assert len(zero) < 0.10 * len(parsed)
    assert sum(named.values()) >= 0.85 * len(zero)
    assert named["FIRST LADY JILL BIDEN"] >= 150


def test_label_counts_match_an_independent_count(corpus, corpus_dir):
    """Turn counts of three frequent labels equal a plain line-start count over the raw files."""
    files, parsed, _ = corpus
    raw = Counter()
    for f in files:
        text = f.read_text(encoding="utf-8").replace("\u00a0", " ")
        for m in re.finditer(r"(?m)^[ \t]*(?:\d{1,2}:\d{2} [AP]\.M\. [A-Z]{2,4} )?"
                             r"(THE PRESIDENT|SENIOR ADMINISTRATION OFFICIAL|MODERATOR):", text):
            raw[m.group(1)] += 1
    turns = Counter(x.speaker for t in parsed for x in t.turns)
    print("\n" + ", ".join(f"{k}: {raw[k]} lines / {turns[k]} turns" for k in raw))
    for label in ("THE PRESIDENT", "SENIOR ADMINISTRATION OFFICIAL", "MODERATOR"):
        assert raw[label] == turns[label] > 1000, label
    roles = Counter(x.role for t in parsed for x in t.turns)
    print(f"turns by role: {dict(roles)}")
    assert turns["Q"] > 60000 and roles["questioner"] > turns["Q"]
