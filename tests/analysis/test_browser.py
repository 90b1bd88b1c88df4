"""The HTML report in a real headless browser (Debian's chromium, driven by Playwright)."""

from __future__ import annotations

import pytest

from support import relaypot, require

pytestmark = pytest.mark.slow  # chromium


def test_the_page_renders_with_no_console_error_and_no_network_request(recorded, tmp_path):
    """Opened in chromium: every chart is drawn, nothing is logged as an error, nothing is fetched."""
    chromium = require("chromium")
    from playwright.sync_api import sync_playwright

    page_path = tmp_path / "report.html"
    result = relaypot("report", "--html", str(page_path), "--data-dir", str(recorded.data_dir))
    assert result.returncode == 0, result.stderr
    url = page_path.as_uri()
    console, requests, errors, dialogs = [], [], [], []
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=chromium, headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                  "--disable-sync", "--no-first-run", "--disable-quic"],
        )
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.on("console", lambda message: console.append((message.type, message.text)))
            page.on("pageerror", lambda error: errors.append(str(error)))
            page.on("request", lambda request: requests.append(request.url))
            # The hostile subject holds <img onerror=alert(2)>: unescaped, it would open a dialog.
            page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
            page.goto(url, wait_until="load")
            charts = page.eval_on_selector_all("figure svg", "nodes => nodes.map(n => n.getBoundingClientRect().width)")
            layout = {width: measure(page, width) for width in (1280, 800)}
            scrolling = {width: wide_tables(page, width) for width in (1280, 800)}
            page.set_viewport_size({"width": 1280, "height": 900})
            page.screenshot(path=str(tmp_path / "report.png"), full_page=True)
            shot = page.screenshot(clip={"x": 0, "y": 0, "width": 1280, "height": 900})
            # A4 with the browser's default margins is 718 CSS px wide; paper cannot scroll.
            page.emulate_media(media="print")
            page.set_viewport_size({"width": 718, "height": 1000})
            printed = page.evaluate(PRINTED)
        finally:
            browser.close()
    assert requests == [url], requests
    assert not errors
    assert not [m for m in console if m[0] in ("error", "warning")], console
    assert len(charts) == 6 and all(width > 300 for width in charts)
    assert not dialogs
    # At 1280 px every table fits; at 800 px a table may scroll, but the columns a reader acts on
    # (who, how listed, which OS, which sessions to replay) are on screen before it does.
    assert scrolling[1280] == [], scrolling[1280]
    for title, hidden in scrolling[800]:
        assert not {"source", "DNSBL", "OS", "relaypot replay ID", "subject", "filename"} & set(hidden), (title, hidden)
    assert len(scrolling[800]) <= 2, scrolling[800]
    assert printed == [0, []], f"on paper: {printed[0]} px too wide; tables cut: {printed[1]}"
    for width, (overflow, broken, tokens, times, anchors) in layout.items():
        assert overflow <= 0, f"the page is {overflow} px wider than a {width} px window"
        assert broken == [], f"tokens broken across lines at {width} px: {broken[:5]}"
        assert tokens > 20 and times > 10  # addresses, names and times were measured
        assert anchors == ["findings", "attacks", "activity", "helo", "commands", "relay-probes", "spam", "credentials",
                           "sources", "origins"]
    from io import BytesIO

    from PIL import Image

    with Image.open(BytesIO(shot)) as image:
        colors = image.convert("RGB").getcolors(maxcolors=1_000_000)
    # A blank or text-only page has few colours; the charts' bars and antialiasing give many.
    assert colors is None or len(colors) > 50
    assert (tmp_path / "report.png").stat().st_size > 50_000


# In the page, with no script of its own: how far it overflows the window, and which address,
# name or time cells (or a time's parts, between which a first-to-last span may wrap) take more
# than one line (a Range over a cell's text gives a box per line).
MEASURE = """() => {
  const lines = td => { const r = document.createRange(); r.selectNodeContents(td);
                        return new Set([...r.getClientRects()].map(b => Math.round(b.top))).size; };
  const tokens = [...document.querySelectorAll('td.tok')], times = [...document.querySelectorAll('td.t, td time .i')];
  return [document.documentElement.scrollWidth - window.innerWidth,
          [...tokens, ...times].filter(td => td.textContent.trim() && lines(td) > 1).map(td => td.textContent),
          tokens.length, times.length,
          [...document.querySelectorAll('nav a')].map(a => a.getAttribute('href').slice(1))
            .filter(id => document.getElementById(id))];
}"""


# Each table wider than its box, as (the heading above it, the headers of columns off the window).
WIDE_TABLES = """() => [...document.querySelectorAll('div.scroll')].filter(d => d.scrollWidth > d.clientWidth + 1)
  .map(d => { let h = d.previousElementSibling; while (h && !/^H[23]$/.test(h.tagName)) h = h.previousElementSibling;
              return [h ? h.textContent : '?', [...d.querySelectorAll('th')]
                .filter(th => th.getBoundingClientRect().right > window.innerWidth).map(th => th.textContent)]; })"""
PRINTED = """() => [document.documentElement.scrollWidth - window.innerWidth,
  [...document.querySelectorAll('table')].filter(t => t.getBoundingClientRect().right > window.innerWidth + 1)
    .map(t => t.querySelector('th').textContent)]"""


def wide_tables(page, width: int) -> list:
    page.set_viewport_size({"width": width, "height": 900})
    return page.evaluate(WIDE_TABLES)


def measure(page, width: int) -> tuple:
    page.set_viewport_size({"width": width, "height": 900})
    return tuple(page.evaluate(MEASURE))
