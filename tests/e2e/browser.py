"""Headless Chromium for the browser tests, driven by Selenium: the system's ``chromium`` and
``chromedriver`` (Debian: ``apt-get install -y chromium chromium-driver``), never a bundled
browser. Without them the browser tests are skipped with that advice, unless
``TASKTRAIL_REQUIRE_BROWSER=1`` (set by ``.ci/run``) makes their absence a failure."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service

CHROMIUM = os.environ.get("TASKTRAIL_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("TASKTRAIL_CHROMEDRIVER", "/usr/bin/chromedriver")
ADVICE = "install it with: sudo apt-get install -y chromium chromium-driver"
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
)


def require_browser() -> None:
    """Skip (or, in CI, fail) unless Chromium and its driver are installed."""
    missing = [p for p in (CHROMIUM, CHROMEDRIVER) if not (Path(p).exists() or shutil.which(p))]
    if not missing:
        return
    message = f"browser tests need {' and '.join(missing)}: {ADVICE}"
    if os.environ.get("TASKTRAIL_REQUIRE_BROWSER") == "1":
        pytest.fail(message)
    pytest.skip(message)


def chromium(profile: Path, width: int = 1280, height: int = 900) -> webdriver.Chrome:
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={profile}")
    options.add_argument(f"--window-size={width},{height}")
    driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
    driver.set_page_load_timeout(30)
    return driver


@pytest.fixture
def browser_factory(tmp_path: Path) -> Iterator[list[webdriver.Chrome]]:
    """Fresh browsers (each its own profile), all quit after the test."""
    require_browser()
    opened: list[webdriver.Chrome] = []
    yield opened
    for driver in opened:
        driver.quit()


def new_browser(opened: list[webdriver.Chrome], profile: Path) -> webdriver.Chrome:
    driver = chromium(profile)
    opened.append(driver)
    return driver
