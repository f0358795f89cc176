"""`/docs` in a real headless browser (Debian's Chromium): the page renders every operation of
the contract from assets Puls serves itself, and a user can authorize with a key and try a
call. Nothing is fetched from a CDN: the machines this runs on have no internet access."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from services.core.config import Settings
from tests.api_process import running_api
from tests.harness import ADMIN_TOKEN

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")

pytestmark = pytest.mark.skipif(
    CHROMIUM is None or CHROMEDRIVER is None,
    reason="Chromium is not installed; `make browser` installs Debian's chromium and "
    "chromium-driver (apt-get, as root)",
)


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[object]:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    # The flags keep Chromium from calling Google's hosts, which a closed network refuses.
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--window-size=1400,1000",
        f"--user-data-dir={tmp_path / 'profile'}",
    ):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def test_docs_render_every_operation_and_try_a_call(settings: Settings, browser: object) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.remote.webdriver import WebDriver
    from selenium.webdriver.support import expected_conditions as ready
    from selenium.webdriver.support.ui import WebDriverWait

    assert isinstance(browser, WebDriver)
    with running_api(settings) as url:
        spec = httpx.get(f"{url}/openapi.json").json()
        operations = sum(
            1
            for item in spec["paths"].values()
            for method in item
            if method in {"get", "post", "put", "patch", "delete"}
        )
        browser.get(f"{url}/docs")
        wait = WebDriverWait(browser, 120)
        wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, ".opblock")) == operations)

        # Authorize with a key, as a user would in the dialog.
        browser.find_element(By.CSS_SELECTOR, ".auth-wrapper .authorize").click()
        field = wait.until(
            ready.visibility_of_element_located((By.CSS_SELECTOR, ".modal-ux input"))
        )
        field.send_keys(ADMIN_TOKEN)
        browser.find_element(By.CSS_SELECTOR, ".modal-ux .auth-btn-wrapper .authorize").click()
        browser.find_element(By.CSS_SELECTOR, ".modal-ux .btn-done").click()

        # Try GET /v1/org-units and see the live answer.
        path = browser.find_element(
            By.XPATH,
            "//div[contains(@class,'opblock-get')]"
            "//*[contains(@class,'opblock-summary-path') and @data-path='/v1/org-units']",
        )
        block = path.find_element(
            By.XPATH, "./ancestor::div[contains(concat(' ', @class, ' '), ' opblock ')][1]"
        )
        browser.execute_script("arguments[0].scrollIntoView()", path)
        path.click()
        wait.until(lambda _: block.find_elements(By.CSS_SELECTOR, ".try-out__btn"))
        block.find_element(By.CSS_SELECTOR, ".try-out__btn").click()
        wait.until(lambda _: block.find_elements(By.CSS_SELECTOR, ".execute"))
        block.find_element(By.CSS_SELECTOR, ".execute").click()
        status = wait.until(
            lambda _: block.find_elements(
                By.CSS_SELECTOR, ".live-responses-table tbody .response-col_status"
            )
        )
        assert status[0].text.strip() == "200"

        # Every resource the page loaded came from Puls itself.
        requested = set(
            browser.execute_script(
                "return performance.getEntriesByType('resource').map(e => e.name)"
            )
        )
        web = {u for u in requested if u.startswith(("http:", "https:"))}
        assert f"{url}/docs/assets/swagger-ui-bundle.js" in web
        assert all(u.startswith(url) for u in web), web - {u for u in web if u.startswith(url)}
