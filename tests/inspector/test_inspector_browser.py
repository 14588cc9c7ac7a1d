"""The /inspect page in a real browser: Debian's Chromium, headless, driven by Playwright (nothing downloaded).

The app is the service's own wiring without Kafka: service.build_parts (the real OCR engine, no model server
configured) served by http.create_app + HttpServer on a free port. Each sample photo is uploaded with the
model turned off on the page; what the page shows is checked against the JSON answer it shows."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from models_processor.config import Settings, load_settings
from models_processor.http import HttpServer, create_app
from models_processor.inspector import Inspector
from models_processor.service import build_parts
from testkit.fakes.ollama_server import Reply

pytestmark = [pytest.mark.browser, pytest.mark.ocr]

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "tests" / "samples"
SCREENSHOTS = ROOT / "docs" / "inspector"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
ANSWER_TIMEOUT_MS = 180_000  # OCR of a page on a busy 2-core machine
KINDS = json.loads((SAMPLES / "ground_truth.json").read_text())
PHOTOS = sorted(name for name in KINDS if not name.startswith("_"))


def _serve(settings: Settings, *, enabled: bool) -> HttpServer:
    parts = build_parts(settings)
    inspector = Inspector(settings, parts.processor, parts.offline) if enabled else None
    app = create_app(parts.health, parts.metrics, model_name=parts.model_name, topic="t", inspector=inspector)
    server = HttpServer(app, host="127.0.0.1", port=0, max_body_bytes=settings.inspector_max_bytes + 65536)
    server.start()
    return server


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    server = _serve(load_settings({"INSPECTOR_ENABLED": "true", "OCR_ENGINE": "rapidocr"}), enabled=True)
    yield f"http://127.0.0.1:{server.port}"
    server.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Browser, base_url: str) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    tab = context.new_page()
    tab.goto(base_url + "/inspect")
    yield tab
    context.close()


def _run(page: Page, photo: Path, *, kind: str, use_model: bool = False) -> dict[str, Any]:
    page.evaluate("document.body.dataset.state = ''")
    page.set_input_files("#photo", str(photo))
    page.select_option("#kind", kind)
    page.set_checked("#use-model", use_model)
    page.click("#run")
    page.wait_for_selector("body[data-state=done]", timeout=ANSWER_TIMEOUT_MS)
    assert page.is_hidden("#problem"), page.text_content("#problem")
    answer: dict[str, Any] = json.loads(page.text_content("#raw") or "")
    return answer


def _shown(value: Any) -> str:
    """How the page writes a value: lists one item a line (an ingredient by its original text), objects as
    `key: value` pairs without the empty ones, numbers as JavaScript prints them."""
    if value is None:
        return ""
    if isinstance(value, list):
        return "\n".join(item.get("original_text") or item.get("name") if isinstance(item, dict) else _shown(item)
                         for item in value)
    if isinstance(value, dict):
        return ", ".join(f"{k}: {_shown(v)}" for k, v in value.items() if v is not None)
    if isinstance(value, float):
        return f"{value:.15g}"
    return str(value)


def _assert_fields_shown(page: Page, answer: dict[str, Any]) -> None:
    """Every result field is on the page once, with the badge of its source and its value."""
    assert page.locator("#fields .field").count() == len(answer["result"])
    for field, value in answer["result"].items():
        row = page.locator(f'#fields .field[data-field="{field}"]')
        assert row.locator(".badge").text_content() == answer["sources"][field], field
        assert row.locator(".value").text_content() == _shown(value), field


@pytest.mark.parametrize("name", [n for n in PHOTOS if KINDS[n]["kind"] != "food"])
def test_each_sample_shows_its_fields_badges_boxes_and_timings(page: Page, name: str) -> None:
    answer = _run(page, SAMPLES / name, kind=KINDS[name]["kind"])
    assert answer["status"] == "ok" and answer["kind"] == KINDS[name]["kind"]
    _assert_fields_shown(page, answer)
    # Boxes: one per OCR line, some tied to a field OCR filled; hovering that field lights only its boxes.
    polygons = page.locator("#overlay polygon")
    assert polygons.count() > 5
    fed = [f for f, src in answer["sources"].items() if src == "ocr"
           and page.locator(f'#overlay polygon[data-field="{f}"]').count()]
    assert fed, "no box is tied to a field read by OCR"
    page.hover(f'#fields .field[data-field="{fed[0]}"]')
    assert page.locator("#overlay polygon.hot").count() == page.locator(f'#overlay polygon[data-field="{fed[0]}"]').count()
    assert page.locator("#overlay polygon.dim").count() == polygons.count() - page.locator("#overlay polygon.hot").count()
    stages = [s for s in answer["timings_ms"] if s != "total"]
    assert page.locator("#timings .stage").evaluate_all("els => els.map(e => e.dataset.stage)") == stages
    assert {"decode", "ocr", "parse"} <= set(stages)
    page.wait_for_selector(f'#recent tr[data-request-id="{answer["request_id"]}"]')


def test_food_without_the_model_is_an_error_in_words(page: Page) -> None:
    answer = _run(page, SAMPLES / "food_zucchine_dish.jpg", kind="food")
    assert answer["status"] == "error" and answer["error"]["code"] == "model_unavailable"
    shown = page.text_content("#error") or ""
    assert shown.startswith("The model could not be used") and answer["error"]["message"] in shown
    assert page.text_content("#answer-status") == "error"


def test_a_file_that_is_not_a_photo_is_an_error_in_words(page: Page, tmp_path: Path) -> None:
    fake = tmp_path / "holiday.jpg"
    fake.write_bytes(b"these are not the pixels you are looking for\n" * 20)
    answer = _run(page, fake, kind="auto")
    assert answer["error"]["code"] == "invalid_image"
    assert (page.text_content("#error") or "").startswith("The file is not a photo this service can read")
    assert page.is_hidden("#figure")  # nothing to draw


def test_a_photo_above_the_page_limit_is_refused_in_words(page: Page, tmp_path: Path) -> None:
    big = tmp_path / "big.jpg"
    big.write_bytes(b"\xff" * (4 * 1024 * 1024 + 1))
    page.set_input_files("#photo", str(big))
    page.click("#run")
    page.wait_for_selector("#problem:not([hidden])")
    assert "this page accepts up to 4194304 bytes" in (page.text_content("#problem") or "")


def test_inspect_is_404_when_disabled(browser: Browser) -> None:
    server = _serve(load_settings({}), enabled=False)
    try:
        context = browser.new_context()
        response = context.new_page().goto(f"http://127.0.0.1:{server.port}/inspect")
        assert response is not None and response.status == 404
        context.close()
    finally:
        server.close()


def test_screenshots_desktop_and_phone(browser: Browser, base_url: str, tmp_path: Path) -> None:
    # The README's screenshots are refreshed only on request, so a test run leaves the checkout clean.
    target = SCREENSHOTS if os.environ.get("UPDATE_SCREENSHOTS") == "1" else tmp_path
    target.mkdir(parents=True, exist_ok=True)
    for label, viewport in (("desktop", {"width": 1280, "height": 900}), ("phone", {"width": 390, "height": 844})):
        context = browser.new_context(viewport=viewport, device_scale_factor=1)
        tab = context.new_page()
        tab.goto(base_url + "/inspect")
        answer = _run(tab, SAMPLES / "nutrition_snack_label.jpg", kind="auto")
        assert answer["kind"] == "nutrition_label"
        tab.hover('#fields .field[data-field="total_fat_g"]')
        # Nothing wider than the screen: the page works at phone width without sideways scrolling.
        assert tab.evaluate("document.documentElement.scrollWidth") <= viewport["width"]
        tab.screenshot(path=str(target / f"{label}.png"), full_page=True)
        context.close()
        assert (target / f"{label}.png").stat().st_size > 10_000


def test_fields_the_vision_model_filled_carry_its_badge(browser: Browser, standin: Any) -> None:
    """The model allowed, against the Ollama stand-in over HTTP: a food photo goes to the vision model, and
    every field it filled shows `llm-vision`, the one it left empty `missing`."""
    dish = {"dish_name": "Zucchine alla scapece", "estimated_avg_calories": 320, "ingredients": ["courgettes", "mint"],
            "total_avg_weight": None, "contains": {"protein": 4, "carbs": 12, "fat": 28}}
    standin.enqueue(Reply(text=json.dumps(dish)))
    server = _serve(load_settings({"INSPECTOR_ENABLED": "true", "OLLAMA_HOST": standin.url,
                                   "RESULT_CACHE_SIZE": "0"}), enabled=True)
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    try:
        tab = context.new_page()
        tab.goto(f"http://127.0.0.1:{server.port}/inspect")
        answer = _run(tab, SAMPLES / "food_zucchine_dish.jpg", kind="food", use_model=True)
        _assert_fields_shown(tab, answer)
        assert tab.locator("#fields .badge.llm-vision").count() == 4
    finally:
        context.close()
        server.close()
    assert answer["status"] == "ok" and answer["kind"] == "food" and answer["result"]["dish_name"] == dish["dish_name"]
    assert standin.stats.total_generations == 1  # the page's request really reached the model server
    assert answer["sources"] == {"dish_name": "llm-vision", "estimated_avg_calories": "llm-vision",
                                 "ingredients": "llm-vision", "total_avg_weight": "missing", "contains": "llm-vision"}


def test_a_typed_prompt_is_answered_by_the_text_model(browser: Browser, standin: Any) -> None:
    standin.enqueue(Reply(text="A lentil soup with cumin."))
    server = _serve(load_settings({"INSPECTOR_ENABLED": "true", "OLLAMA_HOST": standin.url,
                                   "RESULT_CACHE_SIZE": "0"}), enabled=True)
    context = browser.new_context(viewport={"width": 390, "height": 844})
    try:
        tab = context.new_page()
        tab.goto(f"http://127.0.0.1:{server.port}/inspect")
        tab.evaluate("document.body.dataset.state = ''")
        tab.fill("#prompt", "Suggest a dinner with lentils")
        tab.click("#run")
        tab.wait_for_selector("body[data-state=done]", timeout=ANSWER_TIMEOUT_MS)
        answer = json.loads(tab.text_content("#raw") or "")
        shown = tab.locator('#fields .field[data-field="response"] .value').text_content()
        figure_hidden = tab.is_hidden("#figure")
    finally:
        context.close()
        server.close()
    assert answer["status"] == "ok" and answer["kind"] == "text"
    assert answer["response"] == "A lentil soup with cumin." == shown
    assert figure_hidden  # no photo, nothing to draw
    assert standin.stats.total_generations == 1
