"""End to end in a real headless Chromium: `rag serve` on the bundled sample, driven by Playwright.

Needs Debian's chromium (`make browser` installs it). Skipped when chromium or Playwright is
missing on a developer machine; in CI (CI=true) their absence is a failure.
Screenshots go to artifacts/ (git-ignored).
"""
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "artifacts"
SAMPLE = ROOT / "data" / "briefings"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
DPRK_TITLE = "Background Press Call by Senior Administration Officials on the Democratic People’s Republic of Korea"
DPRK_QUESTION = "What is the status of the North Korea policy review?"
ABSENT_QUESTION = "How large is the budget for a crewed mission to Mars?"
SURVEY_QUESTION = "What did officials say about Russia?"   # a survey question: every briefing, dated
START_TIMEOUT_S = 900   # a first start builds the sample index: minutes on a busy 2-core machine
ANSWER_TIMEOUT_MS = 300_000


def _missing(what: str):
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"{what} is required in CI for the browser test (run `make browser`)")
    pytest.skip(f"{what} not installed (run `make browser`)")


def _chromium() -> str:
    for c in ("/usr/bin/chromium", shutil.which("chromium") or "", shutil.which("chromium-browser") or ""):
        if c and os.access(c, os.X_OK):
            return c
    _missing("Debian's chromium")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def browser():
    exe = _chromium()
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _missing("playwright (pip install playwright)")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=exe, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture(scope="module")
def server(tmp_path_factory, request):
    """`rag serve` in a subprocess on a free loopback port, over a copy of the sample index.

    Reuses the session's sample index when conftest provides one; otherwise this is a real
    first start that builds the index from the bundled sample."""
    ARTIFACTS.mkdir(exist_ok=True)
    index_dir = tmp_path_factory.mktemp("serve") / "index"
    try:
        sample = request.getfixturevalue("sample_index")
        shutil.copytree(Path(getattr(sample, "path", sample)), index_dir,
                        ignore=shutil.ignore_patterns(".lock", "uploads"))
    except pytest.FixtureLookupError:
        pass
    port = _free_port()
    log = open(ARTIFACTS / "browser-server.log", "w")
    env = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", GRADIO_ANALYTICS_ENABLED="False")
    env.pop("RAG_PASSWORD", None)
    proc = subprocess.Popen([sys.executable, "-m", "rag.cli", "serve", "--index", str(index_dir), "--corpus",
                             str(SAMPLE), "--port", str(port)], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + START_TIMEOUT_S
    try:
        while True:
            if proc.poll() is not None:
                pytest.fail(f"rag serve exited with {proc.returncode}; see {log.name}")
            try:
                if urllib.request.urlopen(url, timeout=5).status == 200:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"rag serve did not answer on {url} within {START_TIMEOUT_S} s; see {log.name}")
            time.sleep(1)
        yield {"url": url, "index": index_dir}
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


@pytest.fixture
def page(browser, server):
    pg = browser.new_page(viewport={"width": 1400, "height": 1000})
    pg.dialogs = []
    pg.on("dialog", lambda d: (pg.dialogs.append(d.message), d.dismiss()))
    pg.goto(server["url"])
    pg.wait_for_selector("#question textarea")
    yield pg
    pg.close()


def ask(pg, question: str):
    """Type a question, send it, and wait for the final answer (the sources panel is filled last)."""
    # record whether the digest showed while the answer was still being written (the streaming cursor, or the
    # status line under the digest while the model writes): the two states can follow each other within one
    # frame, so either counts, and only before the final sources panel
    pg.evaluate("""() => { window.__streamed = false;
        new MutationObserver(() => {
            const t = document.querySelector('#chat').innerText;
            const final = document.querySelector('#sources .sources.final');
            if (!final && t.includes('What was said in the briefings') && (t.includes('▌') || t.includes('Writing a short summary')))
                window.__streamed = true; })
          .observe(document.querySelector('#chat'), {subtree: true, childList: true, characterData: true}); }""")
    # unmark the previous panel: the server's next final panel carries the class again
    pg.evaluate("() => document.querySelectorAll('#sources .sources').forEach(e => e.classList.remove('final'))")
    pg.locator("#question textarea").fill(question)
    pg.locator("#ask-button").click()
    pg.wait_for_selector("#sources .sources.final", timeout=ANSWER_TIMEOUT_MS)
    pg.wait_for_function("() => !document.querySelector('#chat').innerText.includes('▌')", timeout=30_000)


def test_answer_cites_the_right_briefing_and_speaker(page):
    ask(page, DPRK_QUESTION)
    page.screenshot(path=str(ARTIFACTS / "browser-answer.png"), full_page=True)
    chat = page.locator("#chat").inner_text()
    panel = page.locator("#sources")
    assert "Something went wrong" not in chat and "Could not answer" not in chat, chat
    assert page.evaluate("window.__streamed"), "the answer was not streamed"
    assert panel.locator(".src-heading").first.inner_text() == "Sources", panel.inner_text()
    cards = panel.locator(".src-card")
    assert cards.count() >= 1
    first = cards.first
    assert DPRK_TITLE in first.locator(".src-title").inner_text()
    assert "SENIOR ADMINISTRATION OFFICIAL" in first.locator(".src-speaker").inner_text()
    link = first.locator("a.src-title").get_attribute("href")
    assert link.startswith("https://www.whitehouse.gov/briefing-room/press-briefings/2021/03/23/")
    assert "2021-03-23" in first.locator(".src-meta").inner_text()
    assert first.locator("mark").count() >= 1 and first.locator("mark").first.inner_text().strip()
    # every [n] in the answer has a card with that number in the panel
    import re
    answer_text = chat.split(DPRK_QUESTION, 1)[-1]
    cited = {int(n) for n in re.findall(r"\[(\d+)\]", answer_text)}
    shown = {int(x.inner_text().strip("[]")) for x in panel.locator(".src-n").all()}
    assert cited and cited == shown, (cited, shown, answer_text)

    # a follow-up question uses the conversation so far
    ask(page, "What did they say about Japan and Korea?")
    page.screenshot(path=str(ARTIFACTS / "browser-follow-up.png"), full_page=True)
    chat = page.locator("#chat").inner_text()
    assert chat.count(DPRK_QUESTION) == 1 and "What did they say about Japan and Korea?" in chat
    assert "Something went wrong" not in chat
    assert page.locator("#sources .src-card").count() >= 1


def test_absent_topic_is_not_covered(page):
    ask(page, ABSENT_QUESTION)
    page.screenshot(path=str(ARTIFACTS / "browser-not-covered.png"), full_page=True)
    chat = page.locator("#chat").inner_text()
    assert "Not covered by the indexed briefings" in chat, chat
    heading = page.locator("#sources .src-heading").first.inner_text()
    assert heading.startswith("Not covered by the indexed briefings")
    assert page.locator("#sources .src-card").count() >= 1  # the closest passages are still shown


def test_survey_question_shows_timeline_and_chart(page):
    ask(page, SURVEY_QUESTION)
    page.wait_for_selector("#survey-chart canvas, #survey-chart svg", timeout=60_000)
    page.screenshot(path=str(ARTIFACTS / "browser-survey.png"), full_page=True)
    chat = page.locator("#chat").inner_text()
    assert "Officials addressed “Russia” in" in chat and "Most often" in chat, chat
    timeline = page.locator("#survey-timeline")
    assert timeline.count() == 1
    assert timeline.locator(".src-heading").inner_text().startswith("Timeline:")
    periods = timeline.locator(".survey-period h4").all_inner_texts()
    assert len(periods) >= 2 and periods == sorted(periods), periods   # months in order
    cards = timeline.locator(".src-card")
    assert cards.count() >= 2
    assert [c.inner_text().strip("[]") for c in timeline.locator(".src-n").all()] == \
        [str(n) for n in range(1, cards.count() + 1)]
    assert page.locator("#survey-chart").is_visible()
    # the legend says which colour is who: a label inside the chart's block, not hidden under what follows it
    legend = page.evaluate("""() => {
        const block = document.querySelector('#survey-chart').getBoundingClientRect();
        const label = [...document.querySelectorAll('#survey-chart svg text')].find(e => e.textContent === 'SECRETARY BLINKEN');
        if (!label) return null;
        const r = label.getBoundingClientRect();
        const top = document.elementFromPoint(r.left + r.width / 2, r.top + r.height / 2);
        return {inside: r.top >= block.top && r.bottom <= block.bottom, shown: !!top && !!top.closest('#survey-chart')}; }""")
    assert legend == {"inside": True, "shown": True}, legend
    # a follow-up narrows the survey to one speaker
    ask(page, "only Blinken")
    page.screenshot(path=str(ARTIFACTS / "browser-survey-follow-up.png"), full_page=True)
    speakers = page.locator("#survey-timeline .src-speaker").all_inner_texts()
    assert speakers and all("BLINKEN" in s for s in speakers), speakers


def test_upload_then_retrieve_and_markup_stays_text(page, server, tmp_path):
    good = tmp_path / "zanzibar_briefing.txt"
    good.write_text("MR. PRICE:  Good afternoon.  Today we announce a new fisheries partnership with Zanzibar "
                    "<script>alert('owned')</script><img src=x onerror=\"alert('img')\"> covering tuna quotas.\n\n"
                    "QUESTION:  Will the Zanzibar fisheries partnership include patrol boats?\n\n"
                    "MR. PRICE:  The Zanzibar partnership includes two patrol boats for the coast guard.\n",
                    encoding="utf-8")
    empty = tmp_path / "empty.md"
    empty.write_text("")
    page.get_by_role("tab", name="Add transcripts").click()
    page.locator("#upload input[type=file]").set_input_files([str(good), str(empty)])
    # both files listed in the component: their upload to the server has finished
    # (a finished upload is listed with its size and a download arrow)
    page.wait_for_function("""() => { const t = document.querySelector('#upload').innerText;
        return t.includes('zanzibar_briefing') && t.includes('empty') && (t.match(/⇣/g) || []).length === 2; }""",
                           timeout=60_000)
    page.locator("#add-button").click()
    report = page.locator("#upload-report")
    report.get_by_text("Skipped").wait_for(timeout=ANSWER_TIMEOUT_MS)
    text = report.inner_text()
    page.screenshot(path=str(ARTIFACTS / "browser-upload.png"), full_page=True)
    assert "Added 1 transcript(s)" in text and "zanzibar_briefing.txt" in text, text
    assert "empty.md: the file is empty" in text, text
    assert (server["index"] / "uploads" / "zanzibar_briefing.txt").is_file()

    page.get_by_role("tab", name="Ask").click()
    page.get_by_text("Filters").click()
    page.locator("#retrieval-only input").check()
    ask(page, "Zanzibar fisheries partnership tuna quotas")
    page.screenshot(path=str(ARTIFACTS / "browser-retrieval-only.png"), full_page=True)
    panel = page.locator("#sources")
    assert "MR. PRICE" in panel.inner_text() and "Zanzibar" in panel.inner_text()
    assert "<script>alert('owned')</script>" in panel.inner_text()  # shown as text
    assert page.locator("#sources script, #sources img").count() == 0
    assert page.dialogs == []  # nothing ran


def test_a_quote_link_opens_the_page_at_the_quote(browser, sample_index, tmp_path):
    """A survey's quote link (rag.links), its address moved to a local copy of the briefing's page (one <p> per
    paragraph of the saved transcript): Chromium scrolls to the quote; words the page lacks leave it at the top."""
    import functools
    import html
    import http.server
    import re
    import threading
    from urllib.parse import urlsplit

    from rag.links import fragment_words

    survey = sample_index.survey("Russia")
    def depth(s):   # how far into its file the quote starts
        text = " ".join(Path(s.path).read_text(encoding="utf-8").split())
        return text.find(" ".join(s.quote.split())[:60]) / max(1, len(text))
    s = max(survey.statements, key=depth)
    assert depth(s) > 0.3, "no quote below the first screen of its page"
    paragraphs = [p.strip() for p in re.split(r"\n\s*\n", Path(s.path).read_text(encoding="utf-8")) if p.strip()]
    (tmp_path / "page.html").write_text("<html><body>" + "".join(f"<p>{html.escape(p)}</p>" for p in paragraphs)
                                        + "</body></html>", encoding="utf-8")
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(
        http.server.SimpleHTTPRequestHandler, directory=str(tmp_path)))
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    local = f"http://127.0.0.1:{httpd.server_address[1]}/page.html"
    try:
        seen = {}
        for name, url in (("quote", local + "#" + urlsplit(s.quote_url).fragment),
                          ("absent", local + "#:~:text=words%20this%20page%20never%20holds")):
            pg = browser.new_page(viewport={"width": 1200, "height": 800})
            pg.goto(url)
            pg.wait_for_timeout(1500)
            start = " ".join(fragment_words(s.quote_url)[0].split()[:3])
            seen[name] = pg.evaluate("""(start) => {
                const p = [...document.querySelectorAll('p')].find(e => e.innerText.replace(/\\s+/g, ' ').includes(start));
                const r = p ? p.getBoundingClientRect() : null;
                return {y: window.scrollY, top: r ? r.top : null, bottom: r ? r.bottom : null, h: window.innerHeight}; }""",
                start)
            pg.close()
    finally:
        httpd.shutdown()
    q = seen["quote"]
    assert q["y"] > 0 and q["bottom"] > 0 and q["top"] < q["h"], (s.quote_url, q)
    assert seen["absent"]["y"] == 0
