"""Debian's headless chromium, driven by selenium through Debian's chromedriver (`make browser` installs both): the
fixture and helpers of the tests that look at HTML pages the way a person does. Without the browser those tests
skip, naming `make browser`, except under CI=true, where that is a failure."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By

from retrodiction_harness.ci import unavailable

# Debian's by default; another Chromium or Chrome with its matching driver where these name them (GitHub's runners
# have Google Chrome and its chromedriver rather than Debian's packages: .github/workflows/ci.yaml).
CHROMIUM = Path(os.environ.get("RETRODICTION_CHROMIUM", "/usr/bin/chromium"))
CHROMEDRIVER = Path(os.environ.get("RETRODICTION_CHROMEDRIVER", "/usr/bin/chromedriver"))
# var(--bad) of page.css, as the browser computes it.
BAD_COLOR = "rgba(168, 50, 45, 1)"


@contextmanager
def chromium(profile: Path) -> Iterator[webdriver.Chrome]:
    """The headless browser (the `browser` fixture of tests/conftest.py), with its profile in `profile`."""
    if not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
        unavailable(
            f"no {CHROMIUM} or {CHROMEDRIVER}: `make browser` installs Debian's chromium and chromium-driver (root)",
            in_ci_because="the browser tests must run in CI",
        )
    options = webdriver.ChromeOptions()
    # Debian's own browser and driver, named outright: selenium's driver manager, which would download a
    # browser build of its own, never runs.
    options.binary_location = str(CHROMIUM)
    for argument in (
        "--headless=new",
        "--no-sandbox",  # root, in a container: chromium's sandbox needs user namespaces it may not have
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--window-size=1280,1024",
        f"--user-data-dir={profile}",
    ):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(executable_path=str(CHROMEDRIVER)), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def severe_entries(driver: webdriver.Chrome) -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = driver.get_log("browser")
    return [entry for entry in entries if entry.get("level") == "SEVERE"]


def figure_sizes(driver: webdriver.Chrome) -> dict[str, tuple[float, float]]:
    """Each inline figure's rendered width and height in CSS pixels, by its <svg> id."""
    return {
        str(svg.get_attribute("id")): (svg.rect["width"], svg.rect["height"])
        for svg in driver.find_elements(By.CSS_SELECTOR, "figure > svg")
    }
