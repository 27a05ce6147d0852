"""The web console in a real browser: Debian's headless Chromium driven by Selenium through Debian's
chromedriver (both installed by ``make test``; nothing downloads a browser or a driver).

One server, one browser session: the console opens on the services of ``public``, shows a service's
instances, an edit of weight, enabled and metadata reaches ``instance/list``, and every page is
captured as a PNG under the test's temp dir (the paths are printed, to look at them).
"""

from __future__ import annotations

import json
import shutil
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Final

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.ui import WebDriverWait

from tests.naming_helpers import JAVA_UA
from tests.server_process import PROBE_TIMEOUT_S, ServerProcess, running_server

CHROMIUM: Final = "/usr/bin/chromium"
CHROMEDRIVER: Final = "/usr/bin/chromedriver"
PAGE_TIMEOUT_S: Final = 20.0
"""Longest wait for a page to draw (a cold Chromium on a loaded 2-core machine)."""
CHROMIUM_FLAGS: Final = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--window-size=1280,900",
)
PNG_SIGNATURE: Final = b"\x89PNG\r\n\x1a\n"
SERVICE: Final = "orders"
GROUPED: Final = f"DEFAULT_GROUP@@{SERVICE}"
INSTANCES: Final = (("10.0.0.5", 8080), ("10.0.0.6", 8080))


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[webdriver.Chrome]:
    """A fresh headless Chromium with its own profile directory; quit afterwards."""
    for tool in (CHROMIUM, CHROMEDRIVER):
        if shutil.which(tool) is None:
            pytest.fail(f"{tool} is missing: `make test` installs Debian's chromium and chromium-driver")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tmp_path / 'chromium-profile'}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    service = Service(executable_path=CHROMEDRIVER, log_output=str(tmp_path / "chromedriver.log"))
    driver = webdriver.Chrome(options=options, service=service)
    try:
        driver.set_page_load_timeout(PAGE_TIMEOUT_S)
        yield driver
    finally:
        driver.quit()


def wait_for_page(driver: WebDriver, page: str) -> None:
    """Until the console says it drew ``page`` (``body[data-ready]``)."""
    WebDriverWait(driver, PAGE_TIMEOUT_S).until(
        lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-ready") == page,
        f"the console did not draw the {page} page",
    )


def capture(driver: WebDriver, shots: Path, name: str) -> Path:
    path = shots / f"{name}.png"
    height = driver.execute_script("return document.documentElement.scrollHeight")
    driver.set_window_size(1280, max(900, int(height)))
    assert driver.save_screenshot(str(path))
    assert path.read_bytes()[:8] == PNG_SIGNATURE
    print(f"screenshot: {path}")
    return path


def cells(row: WebElement) -> list[str]:
    return [cell.text for cell in row.find_elements(By.TAG_NAME, "td")]


def go(driver: WebDriver, link_text: str, page: str) -> None:
    driver.find_element(By.LINK_TEXT, link_text).click()
    wait_for_page(driver, page)


def subscribe(server: ServerProcess) -> None:
    """List the service as a Java client with a UDP port does: it becomes a push subscriber."""
    query = urllib.parse.urlencode({"serviceName": SERVICE, "udpPort": 55001, "clientIP": "127.0.0.1"})
    request = urllib.request.Request(
        f"{server.base_url}/nacos/v1/ns/instance/list?{query}", headers={"User-Agent": JAVA_UA}
    )
    with urllib.request.urlopen(request, timeout=PROBE_TIMEOUT_S) as response:
        assert response.status == 200


def listed_instance(server: ServerProcess, ip: str) -> dict[str, object]:
    answer = server.get_json("/nacos/v1/ns/instance/list", {"serviceName": SERVICE})
    (host,) = [host for host in answer["hosts"] if host["ip"] == ip]
    assert isinstance(host, dict)
    return host


def edit(
    driver: WebDriver,
    address: str,
    *,
    weight: str | None = None,
    metadata: str | None = None,
    toggle_enabled: bool = False,
    shots: Path | None = None,
) -> None:
    """Edit one instance through its row's form and wait for the console to confirm it."""
    row = driver.find_element(By.CSS_SELECTOR, f'tr[data-instance="{address}"]')
    row.find_element(By.CSS_SELECTOR, 'button[data-action="edit"]').click()
    if weight is not None:
        field = driver.find_element(By.ID, "edit-weight")
        field.clear()
        field.send_keys(weight)
    if toggle_enabled:
        driver.find_element(By.ID, "edit-enabled").click()
    if metadata is not None:
        field = driver.find_element(By.ID, "edit-metadata")
        field.clear()
        field.send_keys(metadata)
    if shots is not None:
        capture(driver, shots, "service-edit")
    driver.find_element(By.CSS_SELECTOR, 'button[data-action="save"]').click()
    # Read in one script: the page is redrawn after a save, so elements found earlier go stale.
    confirmed = f"Saved {address}."
    WebDriverWait(driver, PAGE_TIMEOUT_S).until(
        lambda d: d.execute_script("return document.querySelector('p.notice')?.textContent") == confirmed,
        f"the edit of {address} was not confirmed",
    )


def test_console_in_chromium(tmp_path: Path, browser: webdriver.Chrome) -> None:
    shots = tmp_path / "screenshots"
    shots.mkdir()
    with running_server(tmp_path / "data") as server:
        for ip, port in INSTANCES:
            params = {"serviceName": SERVICE, "ip": ip, "port": port, "metadata": json.dumps({"zone": "a"})}
            assert server.request("POST", "/nacos/v1/ns/instance", params)[0] == 200
        subscribe(server)
        server.request(
            "POST", "/nacos/v1/ns/instance", {"serviceName": "billing", "ip": "10.0.1.1", "port": 1}
        )

        # The console opens on the services of public.
        browser.get(server.base_url + "/nacos/")
        wait_for_page(browser, "services")
        assert browser.find_element(By.ID, "namespace").get_attribute("value") == ""
        row = browser.find_element(By.CSS_SELECTOR, f'#services tr[data-service="{GROUPED}"]')
        assert cells(row)[:6] == [SERVICE, "DEFAULT_GROUP", "1", "2", "2", "all healthy"]
        assert browser.find_element(By.CSS_SELECTOR, '#services tr[data-service="DEFAULT_GROUP@@billing"]')
        capture(browser, shots, "services")

        # A service's clusters and instances.
        row.find_element(By.LINK_TEXT, SERVICE).click()
        wait_for_page(browser, "service")
        rows = browser.find_elements(By.CSS_SELECTOR, 'table.instances[data-cluster="DEFAULT"] tbody tr')
        assert sorted(row.get_attribute("data-instance") or "" for row in rows) == [
            f"{ip}:{port}" for ip, port in INSTANCES
        ]
        assert all("healthy" in cells(row)[2] and cells(row)[4] == "enabled" for row in rows)
        assert all("zone=a" in cells(row)[5] for row in rows)
        capture(browser, shots, "service")

        # Edit weight and metadata of one instance: instance/list shows them.
        edit(browser, "10.0.0.5:8080", weight="7.5", metadata='{"zone": "b", "version": "2"}', shots=shots)
        assert cells(browser.find_element(By.CSS_SELECTOR, 'tr[data-instance="10.0.0.5:8080"]'))[3:5] == [
            "7.5",
            "enabled",
        ]
        capture(browser, shots, "service-edited")
        host = listed_instance(server, "10.0.0.5")
        assert (host["weight"], host["enabled"], host["metadata"]) == (
            7.5,
            True,
            {"zone": "b", "version": "2"},
        )
        assert listed_instance(server, "10.0.0.6")["weight"] == 1.0

        # Disable the other one: instance/list leaves it out (as Nacos does), the console shows it.
        edit(browser, "10.0.0.6:8080", toggle_enabled=True)
        assert (
            cells(browser.find_element(By.CSS_SELECTOR, 'tr[data-instance="10.0.0.6:8080"]'))[4] == "disabled"
        )
        answer = server.get_json("/nacos/v1/ns/instance/list", {"serviceName": SERVICE})
        assert [host["ip"] for host in answer["hosts"]] == ["10.0.0.5"]

        # Subscribers, from the service page's link.
        go(browser, "show subscribers", "subscribers")
        subscribers = browser.find_elements(By.CSS_SELECTOR, "#subscribers tbody tr")
        assert [cells(row)[0] for row in subscribers] == ["127.0.0.1:55001"]
        capture(browser, shots, "subscribers")

        go(browser, "Namespaces", "namespaces")
        assert cells(browser.find_element(By.CSS_SELECTOR, "#namespaces tbody tr"))[:3] == [
            "public",
            "(public)",
            "public",
        ]
        capture(browser, shots, "namespaces")

        go(browser, "Cluster members", "members")
        (member,) = browser.find_elements(By.CSS_SELECTOR, "#members tbody tr")
        assert cells(member)[:2] == [server.address, "UP"]
        capture(browser, shots, "members")

        go(browser, "Switches", "switches")
        switch = browser.find_element(By.CSS_SELECTOR, '#switches tr[data-switch="healthCheckEnabled"]')
        assert cells(switch) == ["healthCheckEnabled", "true"]
        capture(browser, shots, "switches")

        go(browser, "Services", "services")
        log = browser.get_log("browser")  # type: ignore[no-untyped-call]  # selenium leaves it unannotated
        errors = [entry for entry in log if entry["level"] == "SEVERE"]
        assert errors == []
    assert sorted(path.name for path in shots.iterdir()) == [
        "members.png",
        "namespaces.png",
        "service-edit.png",
        "service-edited.png",
        "service.png",
        "services.png",
        "subscribers.png",
        "switches.png",
    ]
