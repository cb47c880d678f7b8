"""UI pieces without a browser: escaping, highlighting, the sources panel, uploads, exposure rules."""
import os
import re

import pytest

from rag.errors import RagError
from rag.records import Answer, Citation, Hit
from ui import render
from ui.app import check_exposure, is_loopback
from ui.handlers import _upload_report, answer_markdown, filters_from

from reliability_util import handler, tags
from reliability_util import last as _last

DPRK_TITLE = "Background Press Call by Senior Administration Officials on the Democratic People’s Republic of Korea"


def hit(n=1, **kw):
    d = dict(chunk_id=f"c{n}", doc_id="d1", path="data/briefings/004_e77c5bc27b68646e.txt", title=DPRK_TITLE,
             date="2021-03-23", source_url="https://www.whitehouse.gov/briefing-room/press-briefings/2021/03/23/x/",
             publisher="White House", kind="background call", speaker="SENIOR ADMINISTRATION OFFICIAL",
             role="official", question=None,
             text="We wanted to give an update on what has been and will continue to be an intensive period "
                  "for Indo-Pacific diplomacy.  As you all know, the President hosted a head of state Quad.",
             rank=n, score=0.5)
    d.update(kw)
    return Hit(**d)


HOSTILE = '<script>alert("x")</script><img src=x onerror=alert(1)> <a href="javascript:alert(1)">click</a>'


def test_transcript_markup_is_escaped_in_the_sources_panel():
    h = hit(text=f"Intro words. {HOSTILE} The policy review is nearly done.", speaker="<b>MR. X</b>",
            title="<iframe src=//evil>", question="<script>q()</script>")
    c = Citation(n=1, chunk_id="c1", path=h.path, title=h.title, date=h.date, source_url=h.source_url,
                 speaker=h.speaker, quote="The policy review is nearly done")
    out = render.render_answer_sources(Answer(question="q", answer="a [1]", abstained=False, citations=[c], passages=[h]))
    t = tags(out)
    assert not {"script", "img", "iframe", "b"} & set(t.tags), t.tags
    assert not any(k.startswith("on") for k, _ in t.attrs)
    assert "&lt;script&gt;" in out and "&lt;b&gt;MR. X&lt;/b&gt;" in out
    # the cited words are marked, the rest of the passage is context
    assert "<mark>The policy review is nearly done</mark>" in out


def test_only_http_links_are_rendered():
    assert render.safe_url("https://www.state.gov/x/") == "https://www.state.gov/x/"
    for bad in ("javascript:alert(1)", "data:text/html,<b>", "//evil.example/x", "ftp://x/y", "", None, "http://"):
        assert render.safe_url(bad) is None
    out = render.hit_card(hit(source_url="javascript:alert(1)"), "#1")
    assert "href" not in out and "javascript" not in out
    out = render.hit_card(hit(source_url='https://x.gov/a"onmouseover="alert(1)'), "#1")
    attrs = dict(tags(out).attrs)
    assert attrs["href"] == 'https://x.gov/a"onmouseover="alert(1)' and "onmouseover" not in attrs


def test_chat_text_shows_markup_literally():
    s = render.chat_text('see <script>x</script> and **bold** [1] & `code`')
    assert "<script>" not in s and "&lt;script&gt;" in s
    assert "\\*\\*bold\\*\\*" in s and "\\[1\\]" in s and "&amp;" in s


def test_highlight_tolerates_spacing_case_and_curly_quotes():
    passage = "First sentence.  We’re   going to\nwork with allies.  Last sentence."
    out = render.highlight(passage, "we're going to work with allies")
    assert re.search(r"<mark>We’re\s+going to\swork with allies</mark>", out), out
    # a quote not in the passage is still shown, marked, rather than silently dropped
    out = render.highlight(passage, "words the passage does not hold")
    assert out == "<mark>words the passage does not hold</mark>"


def test_highlight_trims_long_passages_around_the_quote():
    passage = " ".join(f"w{i}" for i in range(600)) + " the cited words here " + " ".join(f"v{i}" for i in range(600))
    out = render.highlight(passage, "the cited words here", context=100)
    assert out.startswith("… ") and out.endswith(" …") and "<mark>the cited words here</mark>" in out
    assert len(out) < 400


def test_citation_numbers_in_panel_match_the_answer():
    h1, h2 = hit(1), hit(2, speaker="SECRETARY BLINKEN", title="Secretary Blinken at Reuters NEXT",
                        text="Russia is putting itself in a position for renewed aggression against Ukraine.")
    cits = [Citation(n=2, chunk_id="c2", path="p", title=h2.title, date="2021-12-03", source_url=None,
                     speaker="SECRETARY BLINKEN", quote="renewed aggression against Ukraine"),
            Citation(n=1, chunk_id="c1", path="p", title=h1.title, date=h1.date, source_url=h1.source_url,
                     speaker=h1.speaker, quote="an intensive period for Indo-Pacific diplomacy")]
    out = render.render_answer_sources(Answer(question="q", answer="x [1]. y [2].", abstained=False,
                                              citations=cits, passages=[h1, h2]))
    assert re.findall(r'id="src-(\d+)"', out) == ["1", "2"]
    assert out.index("SENIOR ADMINISTRATION OFFICIAL") < out.index("SECRETARY BLINKEN")
    assert "<mark>renewed aggression against Ukraine</mark>" in out
    # no source URL: the title is shown without a link
    assert '<span class="src-title">Secretary Blinken at Reuters NEXT</span>' in out


def test_abstained_answer_lists_closest_passages_as_not_covered():
    ans = Answer(question="What did officials say about the Mars colony?", answer="The briefings do not say.",
                 abstained=True, passages=[hit(1), hit(2)])
    out = render.render_answer_sources(ans)
    assert render.NOT_COVERED in out and "not-covered" in out and out.count("src-card") == 2
    md = answer_markdown(ans)
    assert md.startswith(f"**{render.NOT_COVERED}.**")


def test_questioner_words_are_labelled_as_the_question():
    h = hit(question="Is Russia going to invade?", question_speaker="QUESTION", speaker="SECRETARY BLINKEN")
    out = render.hit_card(h, "#1")
    assert "In reply to QUESTION" in out and "Is Russia going to invade?" in out
    assert out.index("SECRETARY BLINKEN") < out.index("In reply to")


@pytest.mark.parametrize("name, expected", [
    ("../../etc/passwd", "passwd"),
    ("..\\..\\windows\\win.ini", "win.ini"),
    ("/abs/path/briefing.txt", "briefing.txt"),
    (".bashrc", "bashrc"),
    ("...", "upload"),
    ("", "upload"),
    ("brief ing; rm -rf *.md", "brief_ing_rm_-rf_.md"),
    ("a\x00b.txt", "a_b.txt"),
    ("Блинкен 2021.md", "Блинкен_2021.md"),
])
def test_sanitize_filename(name, expected):
    out = render.sanitize_filename(name)
    assert out == expected
    assert "/" not in out and "\\" not in out and not out.startswith(".") and ".." not in out


def test_sanitize_filename_limits_length_and_keeps_extension():
    out = render.sanitize_filename("x" * 500 + ".html")
    assert len(out) <= 120 and out.endswith(".html")


def test_check_upload_limits_type_size_and_emptiness(tmp_path):
    ok = tmp_path / "a.txt"
    ok.write_text("MR. PRICE: Good afternoon.")
    assert render.check_upload(ok) is None
    exe = tmp_path / "a.exe"
    exe.write_bytes(b"MZ")
    assert "not accepted" in render.check_upload(exe)
    empty = tmp_path / "e.md"
    empty.write_text("")
    assert render.check_upload(empty) == "the file is empty"
    big = tmp_path / "big.html"
    with open(big, "wb") as f:
        f.truncate(21 * 1024 * 1024)
    assert "over the 20 MB limit" in render.check_upload(big)
    assert "cannot read" in render.check_upload(tmp_path / "missing.txt")


def test_upload_report_lists_skipped_files_with_reasons(tmp_path):
    from rag.indexing.updates import IngestReport
    rep = IngestReport(added=[str(tmp_path / "a.txt")], skipped=[(str(tmp_path / "b.txt"), "no speaker labels found")],
                       duplicates=[(str(tmp_path / "d.txt"), str(tmp_path / "a.txt"))])
    md = _upload_report([tmp_path / "a.txt", tmp_path / "b.txt"], [("c.pdf", "type .pdf is not accepted")], rep)
    assert "**Added 1 transcript(s):** a.txt" in md
    assert "d.txt: same transcript as a.txt" in md
    assert "Skipped 2 file(s)" in md and "c.pdf: type .pdf is not accepted" in md and "b.txt: no speaker labels found" in md


def test_filters_from_ui_values():
    assert filters_from("any", "any", "any", "", " ") == {}
    assert filters_from("Blinken", "State Department", "interview", "2021-01-01", "2021-12-31") == dict(
        speaker="Blinken", publisher="State Department", kind="interview", date_from="2021-01-01", date_to="2021-12-31")


def test_loopback_only_without_password():
    for h in ("127.0.0.1", "localhost", "::1", "127.0.0.2"):
        assert is_loopback(h)
        check_exposure(h, None, False)
    for h in ("0.0.0.0", "192.168.1.5", "::", "example.org"):
        assert not is_loopback(h)
        with pytest.raises(RagError, match="without a password"):
            check_exposure(h, None, False)
        check_exposure(h, "secret", False)
        check_exposure(h, None, True)


def test_rag_serve_refuses_public_bind_without_password(capsys, monkeypatch, tmp_path):
    from rag.cli import main
    monkeypatch.delenv("RAG_PASSWORD", raising=False)
    code = main(["serve", "--host", "0.0.0.0", "--index", str(tmp_path / "idx"), "--port", "1"])
    assert code == 2
    err = capsys.readouterr().err
    assert "refusing to serve on 0.0.0.0 without a password" in err and "--no-auth" in err
    assert not (tmp_path / "idx").exists()  # refused before touching the index


def test_highlight_quote_with_ellipsis_marks_each_part():
    passage = "We are deeply concerned. We will respond. And we will do it with our allies and partners."
    out = render.highlight(passage, "deeply concerned … with our allies")
    assert out.count("<mark>") == 2 and "<mark>deeply concerned</mark>" in out and "<mark>with our allies</mark>" in out
    assert render.find_quote_spans(passage, "with our allies … deeply concerned") is None  # order matters


def test_reporter_questions_are_marked_as_not_official_words():
    out = render.hit_card(hit(speaker="QUESTION", role="questioner", text="Is Russia going to invade?"), "#1")
    assert "a reporter&#x27;s question, not an official&#x27;s words" in out and "role-questioner" in out


def _free_port():
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_password_protects_every_endpoint():
    import http.cookiejar
    import urllib.error
    import urllib.parse
    import urllib.request
    from ui.app import build_app, launch_options

    port = _free_port()
    demo = build_app(None, status="test")
    demo.launch(prevent_thread_lock=True, **launch_options("127.0.0.1", port, "s3cret"))
    base = f"http://127.0.0.1:{port}"
    try:
        for path in ("/config", "/gradio_api/info"):
            with pytest.raises(urllib.error.HTTPError) as e:
                urllib.request.urlopen(base + path, timeout=10)
            assert e.value.code == 401
        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
        with pytest.raises(urllib.error.HTTPError) as e:
            opener.open(base + "/login", data=urllib.parse.urlencode({"username": "rag", "password": "guess"}).encode(),
                        timeout=10)
        assert e.value.code == 400
        opener.open(base + "/login", data=urllib.parse.urlencode({"username": "rag", "password": "s3cret"}).encode(),
                    timeout=10)
        assert opener.open(base + "/config", timeout=10).status == 200
    finally:
        demo.close()



def test_failures_show_a_clear_message_in_the_chat(sample_index):
    from ui.app import build_app
    respond = handler(build_app(sample_index, status="test", model="/nonexistent/model.gguf"), "respond")
    q = "What is the status of the North Korea policy review?"   # a pointed question: the model is needed
    chat, history, panel, box, *_ = _last(respond(q, [], [], "any", "any", "any", "", "", False))
    reply = chat[-1]["content"]
    assert chat[-1]["role"] == "assistant" and reply.startswith("**Could not answer:**")
    assert "/nonexistent/model.gguf" in reply.replace("\\", "") and "Traceback" not in reply
    assert history == []  # a failed turn is not remembered as context
    chat, *_ = _last(respond(q, [], [], "any", "any", "any", "last week", "", False))
    assert "is not a date; use YYYY-MM-DD" in chat[-1]["content"]
    respond = handler(build_app(None, status="index/ is damaged: run rag ingest"), "respond")
    chat, *_ = _last(respond(q, [], [], "any", "any", "any", "", "", False))
    assert "The index is not available" in chat[-1]["content"] and "damaged" in chat[-1]["content"]


def test_retrieval_only_and_filters_without_the_model(sample_index):
    from ui.app import build_app
    respond = handler(build_app(sample_index, status="test", model="/nonexistent/model.gguf"), "respond")
    chat, history, panel, *_ = _last(respond("Russia Ukraine aggression", [], [], "Blinken", "any", "any", "", "", True))
    assert "Top passages (retrieval only" in chat[-1]["content"]
    assert panel.count("src-card") == 5 and panel.count("SECRETARY BLINKEN") == 5
    _, _, panel, *_ = _last(respond("Russia Ukraine aggression", [], [], "any", "White House", "any", "", "", True))
    assert "src-card" in panel and "State Department" not in panel


def test_first_start_builds_the_index_then_later_starts_load_it(tmp_path, sample_dir):
    from ui.app import open_or_build
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "rome.txt").write_bytes((sample_dir / "003_ce4ce50f17c4f571.txt").read_bytes())
    (tmp_path / "index").mkdir()
    (tmp_path / "index" / "README.md").write_text("an index folder holding only a README counts as empty\n")
    index, status = open_or_build(tmp_path / "index", corpus)
    assert status.startswith(f"Indexed from {corpus} on first start") and len(index) > 0
    assert index.view.embedded == 0   # serving after phase 1; `rag serve` embeds the vectors in the background
    again, status = open_or_build(tmp_path / "index", tmp_path / "nowhere")
    assert status.startswith("Loaded from") and len(again) == len(index)
    with pytest.raises(RagError, match="does not exist"):
        open_or_build(tmp_path / "other", tmp_path / "nowhere")


def test_filters_reject_malformed_dates():
    with pytest.raises(RagError, match="From date: 'last week' is not a date; use YYYY-MM-DD"):
        filters_from("any", "any", "any", "last week", "")
    with pytest.raises(RagError, match="To date: '2021-13-01'"):
        filters_from("any", "any", "any", "", "2021-13-01")
