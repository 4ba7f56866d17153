"""Drive the hub in a real headless Chromium (Debian package ``chromium``)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from conftest import Hub
    from playwright.sync_api import Browser, Page

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
LOADED_IMAGES = """([selector, n]) => {
    const imgs = [...document.querySelectorAll(selector)];
    return imgs.length >= n && imgs.every(i => i.complete && i.src && i.naturalWidth > 0);
}"""


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is missing: apt-get install -y chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


def open_hub(browser: Browser, url: str) -> Page:
    """A fresh page on the hub that fails the test on any request leaving 127.0.0.1."""
    page = browser.new_page(viewport={"width": 1280, "height": 1400})
    external: list[str] = []
    page.on("request", lambda r: external.append(r.url)
            if not r.url.startswith(("http://127.0.0.1", "data:", "blob:")) else None)
    page.external_requests = external  # type: ignore[attr-defined]
    page.goto(url)
    page.wait_for_selector("#generate-btn", timeout=60_000)
    return page


def generate(page: Page, seeds: str, count: int, timeout_ms: int) -> list[int]:
    """Type ``seeds``, click Generate, wait for ``count`` loaded gallery images; their widths."""
    page.locator("#seeds textarea").fill(seeds)
    page.click("#generate-btn")
    page.wait_for_function(LOADED_IMAGES, arg=["#gallery img", count], timeout=timeout_ms)
    return page.eval_on_selector_all("#gallery img", "imgs => imgs.map(i => i.naturalWidth)")


def test_generate_mix_and_error_toast(hub: Hub, browser: Browser, tmp_path: Path) -> None:
    page = open_hub(browser, hub.url)
    assert generate(page, "0-3", 4, 30_000) == [64] * 4  # tiny-test's default size is 64
    page.click("#mix-btn")
    page.wait_for_function(LOADED_IMAGES, arg=["#mix-a img, #mix-b img, #mix-out img", 3],
                           timeout=30_000)

    page.locator("#seeds textarea").fill("abc")
    page.click("#generate-btn")
    toast = page.locator("[data-testid='toast-text']", has_text="bad seed 'abc'")
    toast.first.wait_for(state="visible", timeout=15_000)
    page.locator("#generate-status", has_text="bad seed 'abc'").wait_for(timeout=10_000)
    # earlier results stay, with no red "Error" badge over them
    assert page.locator("#gallery img").count() == 4
    assert page.locator("#gallery .error").count() == 0
    page.screenshot(path=str(tmp_path / "hub-tiny.png"), full_page=True)
    page.locator("#seeds textarea").fill("5")
    page.click("#generate-btn")  # the new result replaces the kept one
    page.wait_for_function("() => document.querySelectorAll('#gallery img').length === 1",
                           timeout=30_000)
    page.wait_for_function("() => !document.querySelector('#generate-status').innerText.trim()",
                           timeout=10_000)  # the stale message is cleared
    assert hub.alive()
    assert page.external_requests == []  # type: ignore[attr-defined]
    page.close()


def choose(page: Page, dropdown: str, option: str) -> None:
    """Type ``option`` into the ``dropdown`` (a CSS id), take the matching option with Enter
    once the filtered list shows it, and check the dropdown holds it."""
    page.locator(f"{dropdown} input").fill(option)
    page.get_by_role("option", name=option, exact=True).wait_for(timeout=10_000)
    page.locator(f"{dropdown} input").press("Enter")
    page.wait_for_function("([sel, v]) => document.querySelector(sel).value === v",
                           arg=[f"{dropdown} input", option], timeout=10_000)


def pick_model(page: Page, name: str) -> None:
    """Take ``name`` in the model picker."""
    choose(page, "#model", name)


def test_switching_model_refits_controls(hub: Hub, browser: Browser) -> None:
    page = open_hub(browser, hub.url)
    options = page.locator("#model input")
    options.click()
    offered = page.get_by_role("option").all_inner_texts()
    assert "tiny-stylegan2" not in offered and "plugin-stylegan2" in offered  # hidden stays hidden
    page.keyboard.press("Escape")
    pick_model(page, "plugin-stylegan2")
    page.locator("#model-info", has_text="plugin-stylegan2").wait_for(timeout=30_000)
    page.wait_for_function("document.querySelector('#size input').value === '32'", timeout=10_000)
    assert page.locator("#layer-stop input[type=range]").get_attribute("max") == "7"
    assert generate(page, "3,4", 2, 30_000) == [32, 32]
    page.close()


def test_a_model_that_cannot_load_is_undone(hub: Hub, browser: Browser) -> None:
    """One message, the picker back on the working model, controls intact, Generate works."""
    page = open_hub(browser, hub.url)
    pick_model(page, "plugin-broken")
    toast = page.locator("[data-testid='toast-text']", has_text="plugin-broken")
    toast.first.wait_for(state="visible", timeout=30_000)
    page.wait_for_function("document.querySelector('#model input').value === 'tiny-test'",
                           timeout=15_000)
    assert toast.count() == 1
    assert page.locator("#truncation input[type=number]").is_visible()
    assert page.locator(".error").count() == 0  # no red "Error" badges on the controls
    assert generate(page, "1,2", 2, 30_000) == [64, 64]
    page.close()


TAB_CONTENT = {"Generate": "#generate-btn", "Invert": "#invert-btn", "Edit": "#edit-show",
               "Text edit": "#text-run", "Local edit": "#local-run", "Adapt": "#adapt-run"}
TAB_ORDERS = [["Invert", "Edit", "Text edit", "Local edit", "Adapt", "Generate"],
              ["Local edit", "Adapt", "Text edit", "Invert", "Generate", "Edit", "Invert"],
              ["Adapt", "Edit", "Generate", "Local edit", "Invert", "Text edit", "Edit"]]


@pytest.mark.parametrize("order", TAB_ORDERS, ids=["-".join(o) for o in TAB_ORDERS])
def test_tab_bar_stays_intact(hub: Hub, browser: Browser, order: list[str]) -> None:
    """Clicking through the tabs in any order keeps exactly the tabs (a State between
    tabs once turned the bar into "Generate | Invert | Invert | Text edit")."""
    page = open_hub(browser, hub.url)
    for name in order:
        page.get_by_role("tab", name=name, exact=True).click()
        page.locator(TAB_CONTENT[name]).wait_for(state="visible", timeout=15_000)
        labels = [t.strip() for t in page.get_by_role("tab").all_inner_texts()]
        assert labels == list(TAB_CONTENT), labels
        for other, selector in TAB_CONTENT.items():
            if other != name:
                assert not page.locator(selector).is_visible()
    page.close()


@pytest.mark.weights
@pytest.mark.slow
def test_real_model_renders_in_browser(real_hub: Hub, browser: Browser, tmp_path: Path) -> None:
    page = open_hub(browser, real_hub.url)
    assert page.locator("#model input").input_value() == "mobilestylegan-ffhq"
    assert generate(page, "0-1", 2, 180_000) == [256, 256]
    shot = tmp_path / "hub-real.png"
    page.screenshot(path=str(shot), full_page=True)
    print(f"screenshot: {shot}")
    assert page.external_requests == []  # type: ignore[attr-defined]
    page.close()


def open_invert_tab(browser: Browser, url: str, photo: int) -> Page:
    """A hub page on the Invert tab with openpeople portrait ``photo`` uploaded and aligned."""
    from stylelab.pipelines.invert import example_photos

    photos = example_photos()
    if len(photos) <= photo:
        pytest.skip("PyPI openpeople is not installed")
    page = open_hub(browser, url)
    page.get_by_role("tab", name="Invert").click()
    page.locator("#invert-photo input[type=file]").set_input_files(str(photos[photo]))
    page.wait_for_function(LOADED_IMAGES, arg=["#invert-aligned img", 1], timeout=60_000)
    return page


@pytest.mark.weights
def test_invert_tab_real_upload(hub: Hub, browser: Browser, tmp_path: Path) -> None:
    """Upload a portrait through the file chooser, see the aligned face, invert, see the result."""
    page = open_invert_tab(browser, hub.url, 1)
    page.locator("#invert-steps input[type=number]").fill("3")
    page.click("#invert-btn")
    page.wait_for_function(LOADED_IMAGES, arg=["#invert-pasted img", 1], timeout=120_000)
    assert page.locator("#invert-metrics").inner_text().count("PSNR") == 1
    page.screenshot(path=str(tmp_path / "invert.png"), full_page=True)
    assert not page.external_requests  # type: ignore[attr-defined]


@pytest.mark.weights
def test_invert_tab_encoder_is_instant(hub: Hub, hub_encoders: None, browser: Browser) -> None:
    """Pick "Encoder (instant)", invert: a reconstruction and zero optimisation steps."""
    page = open_invert_tab(browser, hub.url, 2)
    page.get_by_label("Encoder (instant)").check()
    page.click("#invert-btn")
    page.wait_for_function(LOADED_IMAGES, arg=["#invert-recon img, #invert-pasted img", 2],
                           timeout=120_000)
    metrics = page.locator("#invert-metrics").inner_text()
    assert "PSNR" in metrics and re.search(r"steps run\W*0\b", metrics), metrics
    assert not page.external_requests  # type: ignore[attr-defined]
    page.close()


IMG_SRC = "sel => document.querySelector(sel)?.src || ''"


def drag_slider(page: Page, elem_id: str, fraction: float) -> None:
    """Press the slider's handle, drag it to ``fraction`` of its track, and release."""
    track = page.locator(f"#{elem_id} input[type=range]")
    track.scroll_into_view_if_needed()
    box = track.bounding_box()
    assert box is not None
    y = box["y"] + box["height"] / 2
    page.mouse.move(box["x"] + box["width"] / 2, y)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * fraction, y, steps=5)
    page.mouse.up()


def test_edit_tab_slider_changes_the_face(hub: Hub, browser: Browser, tmp_path: Path) -> None:
    """Show a face, drag a GANSpace slider, and the "after" image changes; Reset restores it."""
    page = open_hub(browser, hub.url)
    page.get_by_role("tab", name="Edit", exact=True).click()
    page.click("#edit-show")
    page.wait_for_function(LOADED_IMAGES, arg=["#edit-before img, #edit-after img", 2],
                           timeout=60_000)
    first = page.evaluate(IMG_SRC, "#edit-after img")
    drag_slider(page, "edit-ganspace-pc0", 0.9)
    page.wait_for_function("src => document.querySelector('#edit-after img')?.src !== src",
                           arg=first, timeout=60_000)
    page.wait_for_function(LOADED_IMAGES, arg=["#edit-after img", 1], timeout=30_000)
    value = float(page.locator("#edit-ganspace-pc0 input[type=number]").input_value())
    assert value > 1.0
    page.screenshot(path=str(tmp_path / "edit.png"), full_page=True)
    page.click("#edit-reset")
    page.wait_for_function(
        "() => document.querySelector('#edit-ganspace-pc0 input[type=number]').value === '0'",
        timeout=30_000)
    assert not page.external_requests  # type: ignore[attr-defined]
    page.close()


def test_text_edit_tab_global_direction(hub: Hub, browser: Browser, tmp_path: Path) -> None:
    """Type a prompt, run a global direction with the injected constructed CLIP model, and
    see before/after and the top channels; an empty prompt gives a toast, not a traceback."""
    page = open_hub(browser, hub.url)
    page.get_by_role("tab", name="Text edit").click()
    # the Before face shows as soon as the tab opens, before any edit
    page.wait_for_function(LOADED_IMAGES, arg=["#text-before img", 1], timeout=60_000)
    choose(page, "#text-clip", "test:planted-tiny")
    # the server saw the choice: the bundled model's vocabulary note goes away (with the
    # bundled model left chosen, this tiny hub would compute its relevance for minutes)
    page.wait_for_function("() => !document.querySelector('#text-clip-note').innerText"
                           ".includes('faces-minilm')", timeout=30_000)
    page.locator("#text-target textarea").fill("a face with alpha")
    page.click("#text-run")
    page.wait_for_function(LOADED_IMAGES, arg=["#text-before img, #text-after img", 2],
                           timeout=120_000)
    page.locator("#text-notes", has_text="conv1:5").wait_for(timeout=30_000)
    before = page.evaluate(IMG_SRC, "#text-before img")
    assert before != page.evaluate(IMG_SRC, "#text-after img")
    page.screenshot(path=str(tmp_path / "textedit.png"), full_page=True)

    page.locator("#text-target textarea").fill("")
    page.click("#text-run")
    toast = page.locator("[data-testid='toast-text']", has_text="prompt is empty")
    toast.first.wait_for(state="visible", timeout=30_000)
    assert hub.alive()
    assert not page.external_requests  # type: ignore[attr-defined]
    page.close()


def test_local_edit_tab_transplants_a_region(hub: Hub, browser: Browser) -> None:
    """Pick a region, transplant: before, after and the mask appear, with the numbers."""
    page = open_hub(browser, hub.url)
    page.get_by_role("tab", name="Local edit").click()
    choose(page, "#local-region", "eyes")
    page.click("#local-run")
    page.wait_for_function(LOADED_IMAGES, arg=["#local-before img, #local-after img, "
                                              "#local-mask img", 3], timeout=60_000)
    page.locator("#local-notes", has_text="inside / outside").wait_for(timeout=10_000)
    assert page.evaluate(IMG_SRC, "#local-before img") != page.evaluate(IMG_SRC,
                                                                        "#local-after img")
    page.click("#local-paint")  # the current face becomes the mask editor's background
    page.locator("#local-editor canvas").first.wait_for(timeout=30_000)
    paint_stroke(page, "#local-editor canvas")  # across the upper left of the face
    choose(page, "#local-region", PAINTED)
    old_mask = page.evaluate(IMG_SRC, "#local-mask img")
    page.click("#local-run")
    page.wait_for_function(f"() => document.querySelector('#local-mask img')?.src !== "
                           f"{old_mask!r}", timeout=60_000)
    page.wait_for_function(LOADED_IMAGES, arg=["#local-before img, #local-after img, "
                                              "#local-mask img", 3], timeout=60_000)
    stats = page.evaluate(MASK_STATS)
    assert stats["painted"] > 0.002 and stats["lower_right"] < 0.001  # only where painted
    assert stats["changed_inside"] > 0 and stats["changed_outside"] == 0
    assert not page.external_requests  # type: ignore[attr-defined]
    page.close()


PAINTED = "Painted mask (draw below)"
# mask coverage, and before/after pixel changes inside vs (well) outside the painted mask
MASK_STATS = """() => {
  const grab = (sel) => { const img = document.querySelector(sel);
    const c = document.createElement('canvas'); c.width = img.naturalWidth;
    c.height = img.naturalHeight; const x = c.getContext('2d'); x.drawImage(img, 0, 0);
    return x.getImageData(0, 0, c.width, c.height); };
  const m = grab('#local-mask img'), b = grab('#local-before img'), a = grab('#local-after img');
  let painted = 0, lowerRight = 0, inside = 0, outside = 0, n = m.width * m.height;
  for (let y = 0; y < m.height; y++) for (let x = 0; x < m.width; x++) {
    const i = 4 * (y * m.width + x), v = m.data[i];
    const diff = Math.abs(a.data[i] - b.data[i]) + Math.abs(a.data[i + 1] - b.data[i + 1]);
    if (v > 128) { painted++; if (x > m.width * 0.6 && y > m.height * 0.6) lowerRight++;
                   if (diff > 0) inside++; }
    if (v === 0 && diff > 0) outside++;
  }
  return {painted: painted / n, lower_right: lowerRight / n, changed_inside: inside,
          changed_outside: outside};
}"""


def paint_stroke(page: Page, selector: str) -> None:
    """Drag the brush across the upper-left part of the image, which the editor's canvas
    shows centred, about as tall as the canvas."""
    canvas = page.locator(selector).first
    canvas.scroll_into_view_if_needed()
    box = canvas.bounding_box()
    assert box is not None
    side = box["height"] * 0.8
    left, top = box["x"] + (box["width"] - side) / 2, box["y"] + (box["height"] - side) / 2
    page.mouse.move(left + side * 0.25, top + side * 0.3)
    page.mouse.down()
    for k in range(1, 11):
        page.mouse.move(left + side * (0.25 + 0.02 * k), top + side * (0.3 + 0.01 * k), steps=2)
    page.mouse.up()
    page.wait_for_timeout(1500)  # the editor commits the stroke to its layer


def test_adapt_tab_trains_with_previews(hub: Hub, browser: Browser) -> None:
    """Start a short adaptation from an example reference: previews while it trains, then
    the parent/child grid; apply it to a seed; mix the domains both ways; a bad name to
    save is explained."""
    page = open_hub(browser, hub.url)
    page.get_by_role("tab", name="Adapt").click()
    page.locator("#adapt-steps input[type=number]").fill("6")
    page.locator("#adapt-steps input[type=number]").press("Enter")
    page.click("#adapt-run")
    page.wait_for_function(LOADED_IMAGES, arg=["#adapt-preview img", 1], timeout=90_000)
    page.wait_for_function(LOADED_IMAGES, arg=["#adapt-grid img", 1], timeout=90_000)
    page.locator("#adapt-summary", has_text="difa: 6 steps").wait_for(timeout=10_000)
    page.click("#adapt-apply")
    page.wait_for_function(LOADED_IMAGES, arg=["#adapt-before img, #adapt-after img", 2],
                           timeout=30_000)
    assert page.evaluate(IMG_SRC, "#adapt-before img") != page.evaluate(IMG_SRC,
                                                                        "#adapt-after img")
    page.click("#adapt-mix")  # shape of the parent, appearance of the child, cut at 7
    page.wait_for_function(LOADED_IMAGES, arg=["#adapt-mixed img", 1], timeout=30_000)
    page.get_by_label("adapted model").check()
    first = page.evaluate(IMG_SRC, "#adapt-mixed img")
    page.click("#adapt-mix")
    page.wait_for_function(f"() => document.querySelector('#adapt-mixed img')?.src !== "
                           f"{first!r}", timeout=30_000)
    page.locator("#adapt-name textarea").fill("../x")
    page.click("#adapt-save")
    page.locator("#adapt-save-status", has_text="letters, digits").wait_for(timeout=15_000)
    assert hub.alive()
    assert not page.external_requests  # type: ignore[attr-defined]
    page.close()
