"""Ingestion and chunking on the five bundled sample transcripts (real files, real tokenizer).

Expected turn counts were counted by hand and cross-checked with grep on the raw files
(`grep -oE "^ *(Q   |[A-Z][A-Z .'-]+:)"` after turning non-breaking spaces into spaces).
"""
from __future__ import annotations

import json
import re
import shutil
from collections import Counter
from pathlib import Path

import pytest

from rag.ingest.chunker import CHUNKER_VERSION, Chunker, default_tokenizer
from rag.errors import InputError
from rag.ingest import find_files, load, read_transcript

SAMPLE = Path(__file__).resolve().parent.parent / "data" / "briefings"
F000, F001, F002, F003, F004 = (next(SAMPLE.glob(f"00{i}_*.txt")) for i in range(5))

SSDO1, SSDO2 = "SENIOR STATE DEPARTMENT OFFICIAL ONE", "SENIOR STATE DEPARTMENT OFFICIAL TWO"
SAO = "SENIOR ADMINISTRATION OFFICIAL"
EXPECTED_TURNS = {
    F000: {"QUESTION": 11, SSDO1: 10, SSDO2: 10, "OPERATOR": 3},
    F001: {"QUESTION": 19, "SECRETARY BLINKEN": 18},
    F002: {"QUESTION": 22, SAO: 14, "MODERATOR": 8},
    F003: {"Q": 7, SAO: 8, "MODERATOR": 7, "OPERATOR": 1},
    F004: {"Q": 6, SAO: 20},
}
ROLE = {"QUESTION": "questioner", "Q": "questioner", "MODERATOR": "moderator", "OPERATOR": "operator",
        SSDO1: "official", SSDO2: "official", SAO: "official", "SECRETARY BLINKEN": "official"}
# Site chrome and time/place lines present in the raw files that must never reach a turn or a chunk.
BOILERPLATE = [
    "An official website of the United States Government", "Here's how you know", "Official websites use .gov",
    "A .gov website belongs to an official government organization", "Secure .gov websites use HTTPS",
    "A lock ( ) or https://", "Share sensitive information only on official, secure websites",
    "U.S. Department of State", "The Lessons of 1989", "Stay Connected", "Sign Up",
    "We'll be in touch with the latest information", "Opt in to send and receive text messages",
    "Scroll to Top", "Via Teleconference", "2:59 P.M. EDT", "3:18 P.M. EDT", "5:33 P.M. EDT", "5:51 P.M. EDT",
]


@pytest.fixture(scope="module")
def chunker():
    return Chunker()


@pytest.fixture(scope="module")
def parsed():
    result = load([SAMPLE])
    assert not result.errors and not result.duplicates
    return {Path(t.path).resolve(): t for t in result.transcripts}


@pytest.fixture(scope="module")
def chunks(parsed, chunker):
    return {p: chunker.chunk(t) for p, t in parsed.items()}


def _flat(text: str) -> str:
    return " ".join(text.replace("\u00a0", " ").split())


def raw_paragraph_labels(path: Path) -> tuple[str, list[tuple[int, str]]]:
    """An independent reading of the raw file: paragraphs (wraps joined, escapes undone) and where each
    label starts (regex of the grep above), to check chunk attribution against the file, not the parser."""
    raw = path.read_text(encoding="utf-8").replace("\u00a0", " ")
    raw = re.sub(r"\\([\[\]_*])", r"\1", raw)
    paras = [" ".join(p.split()) for p in re.split(r"\n\s*\n", raw) if p.strip()]
    text, labels, pos = "", [], 0
    for p in paras:
        m = re.match(r"^(Q(?= )|[A-Z][A-Z .'-]+(?=:))", p)
        if m:
            labels.append((len(text), m.group(1).strip()))
        text += p + "\n\n"
    return text, labels


def test_files_found_and_metadata_files_skipped(tmp_path):
    files = find_files([SAMPLE])
    assert [f.name for f in files] == [f.name for f in (F000, F001, F002, F003, F004)]  # manifest.json left out
    (tmp_path / "a.txt").write_bytes(F003.read_bytes())
    for name in ("a.meta.json", "a.txt.meta.json", "manifest.json", "manifest.csv", "README.md", "LICENSE.txt",
                 "notes.pdf"):
        (tmp_path / name).write_text("{}")
    assert [f.name for f in find_files([tmp_path])] == ["a.txt"]
    errors: list = []
    assert find_files([tmp_path / "missing", tmp_path / "a.txt"], errors=errors) == [tmp_path / "a.txt"]
    assert len(errors) == 1 and "missing" in str(errors[0]) and "no such file" in errors[0].reason
    with pytest.raises(InputError, match="missing"):
        find_files([tmp_path / "missing"])


@pytest.mark.parametrize("path", list(EXPECTED_TURNS), ids=lambda p: p.name[:3])
def test_turns_per_speaker(parsed, path):
    t = parsed[path.resolve()]
    counts = Counter(x.speaker for x in t.turns)
    assert dict(counts) == EXPECTED_TURNS[path]  # no unattributed (None) turn: every file opens with a label
    assert [x.position for x in t.turns] == list(range(len(t.turns)))
    for x in t.turns:
        assert x.role == ROLE[x.speaker], (x.speaker, x.role)
        assert x.text and x.text == x.text.strip() and "  " not in x.text and "\u00a0" not in x.text
        assert not re.match(r"^(Q\s|[A-Z][A-Z .'-]+:)", x.text), x.text[:60]  # labels are not part of the words


def test_document_metadata(parsed):
    t0, t1, t2, t3, t4 = (parsed[p.resolve()] for p in (F000, F001, F002, F003, F004))
    # 000-003 have no metadata of their own: the folder manifest gives title/publisher/kind, and the date and
    # address the public record establishes (data/PROVENANCE.md)
    assert [t.date for t in (t0, t1, t2, t3)] == ["2021-09-22", "2021-12-03", "2021-06-16", "2022-03-14"]
    assert t1.source_url.startswith("https://www.state.gov/secretary-antony-j-blinken-with-alessandra-galloni")
    assert t3.source_url.startswith("https://www.whitehouse.gov/briefing-room/press-briefings/2022/03/14/")
    assert [t.publisher for t in (t0, t1, t2, t3, t4)] == ["State Department"] * 3 + ["White House"] * 2
    assert [t.kind for t in (t0, t1, t2, t3, t4)] == ["background call", "interview", "background call",
                                                       "background call", "background call"]
    assert t1.title == "Secretary Blinken Interview at Reuters NEXT"
    assert (t3.place, t3.time) == ("Via Teleconference", "2:59 P.M. EDT")
    assert (t0.place, t0.time) == ("New York", None)
    assert t4.title == "Background Press Call by Senior Administration Officials on the Democratic People’s Republic of Korea"
    assert t4.date == "2021-03-23" and (t4.place, t4.time) == ("Via Teleconference", "5:33 P.M. EDT")
    assert t4.source_url.startswith("https://www.whitehouse.gov/briefing-room/press-briefings/2021/03/23/")
    # markdown clean-up: escapes undone, hard wraps joined into paragraphs
    first = t4.turns[0].text
    assert "[senior administration official]" in first and "\\[" not in first
    assert "thanks very much for joining us on short notice." in first
    assert all(len(x.content_hash) == 64 and len(x.doc_id) == 64 for x in (t0, t1, t2, t3, t4))


def test_fallback_title_without_manifest(tmp_path):
    """Without sidecar or manifest: a readable title from the content and the file name; no invented date."""
    shutil.copy(F000, tmp_path / F000.name)
    t = read_transcript(tmp_path / F000.name)
    assert t.title.startswith("Background call (State Department) with Senior State Department Official One")
    assert F000.stem in t.title and t.date is None and t.kind == "background call"


def test_sidecar_and_manifest(tmp_path):
    for f in (F001, F002):
        shutil.copy(f, tmp_path / f.name)
    (tmp_path / "manifest.csv").write_text(
        "file,title,date,publisher,kind\n"
        f"{F001.name},From the manifest,2021-12-03,State Department,interview\n"
        f"{F002.name},Manifest title for 002,,,\n", encoding="utf-8")
    (tmp_path / (F002.stem + ".meta.json")).write_text(json.dumps(
        {"title": "Sidecar wins", "date": "2021-06-16", "source_url": "https://www.state.gov/x/"}), encoding="utf-8")
    r = load([tmp_path])
    assert not r.errors and len(r.transcripts) == 2
    t1, t2 = sorted(r.transcripts, key=lambda t: t.path)
    assert (t1.title, t1.date, t1.kind, t1.publisher) == ("From the manifest", "2021-12-03", "interview",
                                                          "State Department")
    assert (t2.title, t2.date, t2.source_url, t2.publisher) == ("Sidecar wins", "2021-06-16",
                                                                "https://www.state.gov/x/", "State Department")


def test_user_date_that_is_not_a_date_is_reported(tmp_path):
    shutil.copy(F003, tmp_path / "call.txt")
    (tmp_path / "call.meta.json").write_text('{"date": "March 14, 2022"}', encoding="utf-8")
    assert read_transcript(tmp_path / "call.txt").date == "2022-03-14"
    (tmp_path / "call.meta.json").write_text('{"date": "last Monday"}', encoding="utf-8")
    with pytest.raises(InputError, match="call.txt.*last Monday"):
        read_transcript(tmp_path / "call.txt")


def test_statement_without_speakers_is_one_unattributed_turn(tmp_path, chunker):
    """A published page (it has front matter) with no speaker label whose title names nobody as its speaker
    (a readout): kept, nobody invented."""
    (tmp_path / "s.md").write_text(
        "---\ntitle: Readout of President Biden's Call with Prime Minister Trudeau\ndate: 2021-03-02\n"
        "category: press-briefings\n---\n\nToday the President spoke\nwith the Prime\nMinister.\n\nThey agreed.\n",
        encoding="utf-8")
    t = read_transcript(tmp_path / "s.md")
    assert [(x.speaker, x.role, x.text) for x in t.turns] == [
        (None, "unattributed", "Today the President spoke with the Prime Minister.\n\nThey agreed.")]
    assert t.kind == "statement" and t.date == "2021-03-02"
    (c,) = chunker.chunk(t)
    assert (c.speaker, c.role, c.question) == (None, "unattributed", None)
    assert chunker.embedding_text(c) == c.text


def test_statement_without_labels_is_spoken_by_the_one_its_title_names(tmp_path, chunker):
    """"Statement by President Biden on ...": the words are the President's, cited and filtered as his."""
    (tmp_path / "s.md").write_text(
        "---\ntitle: Statement by President Biden on the Passing of a Friend\ndate: 2021-03-02\n"
        "category: press-briefings\n---\n\nToday we lost a friend.\nHe served with\ngrace.\n\nWe mourn him.\n",
        encoding="utf-8")
    t = read_transcript(tmp_path / "s.md")
    assert [(x.speaker, x.role, x.text) for x in t.turns] == [
        ("PRESIDENT BIDEN", "official", "Today we lost a friend. He served with grace.\n\nWe mourn him.")]
    assert t.kind == "statement"
    (c,) = chunker.chunk(t)
    assert (c.speaker, c.role) == ("PRESIDENT BIDEN", "official")
    assert chunker.embedding_text(c).startswith("PRESIDENT BIDEN: Today we lost a friend.")


@pytest.mark.parametrize("path", list(EXPECTED_TURNS), ids=lambda p: p.name[:3])
def test_no_boilerplate_in_turns_or_chunks(parsed, chunks, path):
    t = parsed[path.resolve()]
    texts = [x.text for x in t.turns] + [c.text for c in chunks[path.resolve()]] + \
            [c.question or "" for c in chunks[path.resolve()]] + [t.title]
    for text in texts:
        flat = _flat(text).replace("’", "'")
        for b in BOILERPLATE:
            assert b not in flat, (b, flat[:80])


def test_boilerplate_list_is_real():
    """The strings checked above do occur in the raw sample files (so the test above can fail)."""
    raw = " ".join(_flat(p.read_text(encoding="utf-8")).replace("’", "'") for p in EXPECTED_TURNS)
    assert [b for b in BOILERPLATE if b not in raw] == []


@pytest.mark.parametrize("path", list(EXPECTED_TURNS), ids=lambda p: p.name[:3])
def test_each_chunk_is_its_speakers_words(parsed, chunks, path):
    """Each chunk's text lies in its speaker's turn, and in the raw file under that speaker's label."""
    t = parsed[path.resolve()]
    text, labels = raw_paragraph_labels(path)
    # positions in the flattened text of each label (flattened the same way as the text)
    flat_labels = [(len(_flat(text[:off] + "x")) - 1, lab) for off, lab in labels]
    for c in chunks[path.resolve()]:
        turn = t.turns[c.turn]
        assert (c.speaker, c.role) == (turn.speaker, turn.role) and c.text in turn.text
        others = [x.text for x in t.turns if x.speaker != c.speaker]
        if len(c.text) > 40:
            assert not any(c.text in o for o in others)
        needle = _flat(c.text)
        hits = [m.start() for m in re.finditer(re.escape(needle), _flat(text))]
        assert hits, needle[:80]
        owners = {[lab for off, lab in flat_labels if off <= h][-1] for h in hits}
        assert c.speaker in owners, (owners, c.speaker, needle[:80])
        if len(needle) > 40:  # a short "Thank you." may occur under several labels; a long passage may not
            assert owners == {c.speaker}, (owners, c.speaker, needle[:80])


@pytest.mark.parametrize("path", list(EXPECTED_TURNS), ids=lambda p: p.name[:3])
def test_questions_never_attributed_to_officials(parsed, chunks, path):
    t = parsed[path.resolve()]
    cs = chunks[path.resolve()]
    questions = [x for x in t.turns if x.role == "questioner"]
    assert questions
    for c in cs:
        if c.role == "questioner":
            assert c.speaker in ("QUESTION", "Q") and c.question is None
            continue
        for q in questions:
            probe = q.text[:60]
            if len(probe) >= 25:
                assert probe not in c.text, (c.speaker, probe)
        if c.question is not None:  # context is the questioner's words, labelled as such
            assert c.question_speaker in ("QUESTION", "Q")
            assert any(c.question == q.text for q in questions)
    # every official turn that directly follows a question carries it as context
    for i, x in enumerate(t.turns):
        if x.role == "official" and i and t.turns[i - 1].role == "questioner":
            for c in (c for c in cs if c.turn == x.position):
                assert c.question == t.turns[i - 1].text and c.question_speaker == t.turns[i - 1].speaker


def test_long_turns_split_at_sentences_with_overlap(parsed, chunks):
    t = parsed[F001.resolve()]
    cs = chunks[F001.resolve()]
    split = [x for x in t.turns if sum(1 for c in cs if c.turn == x.position) > 1]
    assert len(split) >= 5
    overlaps = 0
    for x in split:
        parts = [c for c in cs if c.turn == x.position]
        assert [c.part for c in parts] == list(range(len(parts))) and {c.parts for c in parts} == {len(parts)}
        assert x.text.startswith(parts[0].text) and x.text.endswith(parts[-1].text)
        end = 0
        for a, b in zip(parts, parts[1:]):
            assert re.search(r"[.?!”\"’)\]]$", a.text), a.text[-40:]  # ends at a sentence boundary
            end = x.text.index(a.text, max(0, end - len(a.text))) + len(a.text)
            start_b = x.text.index(b.text)
            assert start_b <= end + 2, "a gap between two parts of a turn"  # contiguous or overlapping
            overlaps += start_b < end
    assert overlaps >= 3  # a sentence of overlap between parts


def test_embedding_text_fits_the_model_window(chunks, chunker):
    tok = default_tokenizer()
    lengths = []
    for cs in chunks.values():
        for c in cs:
            e = chunker.embedding_text(c)
            n = len(tok.encode(e).ids)  # with [CLS] and [SEP]
            lengths.append(n)
            assert n <= 256, (n, c.chunk_id)
            assert c.text in e or e.startswith(f"{c.speaker}: ")  # the speaker's words are what gets embedded
            if c.question:
                assert e.index(f"{c.speaker}: ") > 0  # question context first, then the speaker's words
    assert max(lengths) > 200  # the window is actually used (the test would catch an off-by-N overflow)


def test_chunk_ids_are_stable(parsed, chunks):
    again = Chunker(tokenizer=default_tokenizer())
    for p, cs in chunks.items():
        fresh = again.chunk(read_transcript(p))
        assert [c.chunk_id for c in fresh] == [c.chunk_id for c in cs]
        assert len({c.chunk_id for c in cs}) == len(cs)
    assert CHUNKER_VERSION


def test_identical_document_under_two_names_is_one_doc(tmp_path):
    shutil.copy(F003, tmp_path / "a.txt")
    shutil.copy(F003, tmp_path / "b.txt")
    (tmp_path / "c_crlf.txt").write_bytes(F003.read_bytes().replace(b"\n", b"\r\n"))  # same words, other bytes
    r = load([tmp_path])
    assert [Path(t.path).name for t in r.transcripts] == ["a.txt"] and not r.errors
    assert [(Path(a).name, Path(b).name) for a, b in r.duplicates] == [("b.txt", "a.txt"), ("c_crlf.txt", "a.txt")]
    a, c = read_transcript(tmp_path / "a.txt"), read_transcript(tmp_path / "c_crlf.txt")
    assert a.doc_id == c.doc_id and a.content_hash != c.content_hash


@pytest.mark.parametrize("name,data,reason", [
    ("empty.txt", b"", "empty"),
    ("blank.md", b" \n\n \t\n", "empty"),
    ("nul.txt", b"MR. PRICE: hi\x00\x00\x01", "binary"),
    ("undecodable.txt", b"MR. PRICE: caf\x81 \x8d\x90\n\nQUESTION: \x9d?\n", "undecodable"),
    ("noturns.txt", b"The Secretary met the minister.\n\nThey discussed trade.\n", "no speaker turns"),
    ("chrome.txt", b"An official website of the United States Government Here's how you know\n\n"
                   b"Secure .gov websites use HTTPS\n\nA lock ( ) or https:// means you've safely connected to the "
                   b".gov website. Share sensitive information only on official, secure websites.\n\n"
                   b"U.S. Department of State\n", "no transcript text"),
    ("badyaml.md", b"---\ntitle: [unclosed\n---\nMS. PSAKI: Hi.\n", "front matter"),
])
def test_bad_input_names_the_file(tmp_path, name, data, reason):
    (tmp_path / name).write_bytes(data)
    shutil.copy(F004, tmp_path / "good.txt")
    r = load([tmp_path])
    assert [Path(t.path).name for t in r.transcripts] == ["good.txt"]  # the good file is still loaded
    (e,) = r.errors
    assert isinstance(e, InputError) and name in str(e) and reason in e.reason, str(e)
    with pytest.raises(InputError, match=re.escape(name)):
        read_transcript(tmp_path / name)


def test_other_encodings_and_html(tmp_path):
    text = "MR. PRICE:  Señor Muñoz – “hello”.\n\nQUESTION:  Où?\n"
    (tmp_path / "u16.txt").write_bytes(b"\xff\xfe" + text.encode("utf-16-le"))
    (tmp_path / "cp.txt").write_bytes(text.replace("MR. PRICE", "MS. PSAKI").encode("cp1252"))
    (tmp_path / "page.html").write_text(
        "<html><head><title>Department Press Briefing</title>"
        "<link rel='canonical' href='https://www.state.gov/briefings/department-press-briefing-may-1-2023/'>"
        "</head><body><header>An official website of the United States Government Here's how you know</header>"
        "<nav>Home | Briefings</nav><main><h1>Department Press Briefing – May 1, 2023</h1>"
        "<p><strong>MR PATEL:</strong>&nbsp; Good afternoon.<br>Welcome.</p><p><strong>QUESTION:</strong> Any "
        "news on <em>Sudan</em>?</p><p><strong>MR PATEL:</strong> Yes.</p></main>"
        "<footer>U.S. Department of State</footer><script>var x='MR. EVIL: no';</script></body></html>",
        encoding="utf-8")
    r = load([tmp_path])
    assert not r.errors, [str(e) for e in r.errors]
    by = {Path(t.path).name: t for t in r.transcripts}
    assert [(x.speaker, x.text) for x in by["u16.txt"].turns] == [("MR. PRICE", "Señor Muñoz – “hello”."),
                                                                  ("QUESTION", "Où?")]
    assert by["cp.txt"].turns[0].speaker == "MS. PSAKI" and "Muñoz – “hello”" in by["cp.txt"].turns[0].text
    page = by["page.html"]
    assert [(x.speaker, x.role) for x in page.turns] == [("MR PATEL", "official"), ("QUESTION", "questioner"),
                                                          ("MR PATEL", "official")]
    assert page.turns[0].text == "Good afternoon.\n\nWelcome." or page.turns[0].text == "Good afternoon. Welcome."
    assert page.turns[1].text == "Any news on Sudan?"
    assert page.title == "Department Press Briefing – May 1, 2023" and page.publisher == "State Department"
    assert page.date is None  # a date in a title is not metadata: never guessed
    assert page.kind == "press briefing" and page.source_url.startswith("https://www.state.gov/briefings/")


def test_label_forms_and_false_positives(tmp_path):
    body = ("---\ntitle: Press Briefing by Press Secretary Jen Psaki\ndate: 2021-05-04\n"
            "source_url: https://bidenwhitehouse.archives.gov/briefing-room/press-briefings/2021/05/04/x/\n---\n\n"
            "James S. Brady Press Briefing Room\n\n12:31 P.M. EDT\n\n"
            "MS. PSAKI:  Hi.  We have one item.  Our goal\nis simple.\n\n"
            "NATO: another war in Europe is what we avoid,\nand the point is simple.\n\n"
            "Q    Jen, on\nIndia: is the U.S. sending aid?\n\n"
            "MS. PSAKI:  Yes, at 2 p.m. Eastern.\n\n"
            "MS. PSAKI:  Q But I also wanted to ask you —\n\n"
            "Q: And \\[the\\] timing?\n\n"
            "MR: ZIENTS:  We will <s>sent</s> \\[send\\] it.\n\n"
            "Q    MR. ZIENTS:  And soon.\n\nMR. ZIENTS. Yeah.\n\nQ    You are not —\n\nMR. ZIENTS — that —\n\n"
            "THE PRESIDENT:  Thank you.\n\n"
            "AUDIENCE MEMBER:  Thank you!\n\n"
            "END 12:59 P.M. EDT\n")
    (tmp_path / "b.md").write_text(body, encoding="utf-8")
    t = read_transcript(tmp_path / "b.md")
    assert [(x.speaker, x.role) for x in t.turns] == [
        ("MS. PSAKI", "official"), ("Q", "questioner"), ("MS. PSAKI", "official"), ("Q", "questioner"),
        ("Q", "questioner"), ("MR. ZIENTS", "official"), ("MR. ZIENTS", "official"), ("MR. ZIENTS", "official"),
        ("Q", "questioner"), ("MR. ZIENTS", "official"), ("THE PRESIDENT", "official"), ("AUDIENCE MEMBER", "other")]
    assert t.turns[0].text == ("Hi. We have one item. Our goal is simple.\n\n"
                               "NATO: another war in Europe is what we avoid, and the point is simple.")
    assert t.turns[1].text == "Jen, on India: is the U.S. sending aid?"
    assert t.turns[3].text == "But I also wanted to ask you —"  # mislabelled in the source: the Q's words
    assert t.turns[4].text == "And [the] timing?" and t.turns[5].text == "We will sent [send] it."
    assert (t.turns[6].text, t.turns[7].text) == ("And soon.", "Yeah.")  # "Q    MR. ZIENTS:", "MR. ZIENTS." typos
    assert t.turns[9].text == "— that —"  # cross-talk printed "MR. ZIENTS — that —"
    assert (t.place, t.time, t.date, t.publisher, t.kind) == (
        "James S. Brady Press Briefing Room", "12:31 P.M. EDT", "2021-05-04", "White House", "press briefing")
    assert all("P.M. EDT" not in x.text for x in t.turns)
