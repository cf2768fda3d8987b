"""The web UI's page in headless Chromium, driven by selenium and
chromedriver (Debian's python3-selenium and chromium-driver): the page
loads with the token, live rows appear, a filter narrows them, a row's
detail shows its unique response header, and copy-as-curl and replay work
from the buttons. Leaves a screenshot with traffic in the build directory
(ui-screenshot.png next to the binary)."""

from __future__ import annotations

import shutil
import tempfile
import unittest
import uuid

from harness import binary_path
from ui_support import TOKEN, UiTestCase, wait_until

try:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.common.exceptions import StaleElementReferenceException
except ImportError:  # reported by the test itself
    webdriver = None

CHROMIUM_FLAGS = (
    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
    "--disable-quic", "--no-first-run", "--no-default-browser-check",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-extensions", "--window-size=1600,900",
)
WAIT = 15


def missing() -> str | None:
    if webdriver is None:
        return "python3-selenium is not installed (apt-get install python3-selenium)"
    if not shutil.which("chromedriver") or not shutil.which("chromium"):
        return "chromium and chromium-driver are needed (apt-get install chromium-driver)"
    return None


class BrowserUiTests(UiTestCase):
    @classmethod
    def setUpClass(cls):
        why = missing()
        if why:
            raise AssertionError(why)
        super().setUpClass()
        cls.profile = cls.enterClassContext(tempfile.TemporaryDirectory(prefix="tlspeek-ui-"))
        options = webdriver.ChromeOptions()
        options.binary_location = shutil.which("chromium")
        for flag in CHROMIUM_FLAGS:
            options.add_argument(flag)
        options.add_argument(f"--user-data-dir={cls.profile}")
        cls.driver = webdriver.Chrome(service=Service(shutil.which("chromedriver")),
                                      options=options)
        cls.addClassCleanup(cls.driver.quit)
        cls.driver.get(f"{cls.ui_url}/?token={TOKEN}")
        wait_until(lambda: cls.driver.find_element(By.CSS_SELECTOR, "[data-live]").text == "live",
                   "the page's event stream", WAIT)

    def rows(self):
        return self.driver.find_elements(By.CSS_SELECTOR, "tr[data-flow-id]")

    def row_texts(self):
        # In one script: rows come and go while the page updates.
        return self.driver.execute_script(
            "return [...document.querySelectorAll('tr[data-flow-id]')].map(r => r.innerText)")

    def click_row(self, text):
        """Click the row whose text holds text (retried while rows change)."""
        def attempt():
            try:
                row = next((r for r in self.rows() if text in r.text), None)
                if row is None:
                    return None
                row.click()
                return row.get_attribute("data-flow-id")
            except StaleElementReferenceException:
                return None
        return wait_until(attempt, f"a row with {text}", WAIT)

    def test_1_page_loads_and_rows_arrive_live(self):
        self.assertEqual(self.driver.title, "tlspeek")
        self.assertNotIn("token=", self.driver.current_url)  # dropped from the address bar
        tag = uuid.uuid4().hex[:8]
        type(self).tag = tag
        for path in (f"/json/{tag}", f"/hello-{tag}", f"/image-{tag}", f"/missing-{tag}",
                     f"/binary-{tag}"):
            self.through_proxy(path)
        wait_until(lambda: sum(tag in t for t in self.row_texts()) == 5,
                   "five live rows", WAIT)
        row = next(t for t in self.row_texts() if f"/json/{tag}" in t)
        self.assertIn("200", row)
        self.assertIn("application/json", row)
        self.assertIn("TLSv1.3", row)

    def test_2_filter_narrows_rows(self):
        tag = self.tag
        box = self.driver.find_element(By.CSS_SELECTOR, "input[name=filter]")
        box.clear()
        box.send_keys(f"~u /json/{tag}")
        wait_until(lambda: (lambda texts: len(texts) == 1 and f"/json/{tag}" in texts[0])(
            self.row_texts()), "only the JSON row", WAIT)
        box.clear()
        box.send_keys("~c (")
        wait_until(lambda: self.driver.find_element(
            By.CSS_SELECTOR, "[data-filter-error]").text, "a filter error shown", WAIT)
        box.clear()
        box.send_keys(f"{tag} !~c 200")
        wait_until(lambda: len(self.rows()) == 1 and "404" in self.row_texts()[0],
                   "only the 404 row", WAIT)

    def test_3_detail_shows_the_unique_header(self):
        tag = self.tag
        box = self.driver.find_element(By.CSS_SELECTOR, "input[name=filter]")
        box.clear()
        box.send_keys(f"~u /json/{tag}")
        wait_until(lambda: len(self.rows()) == 1 and f"/json/{tag}" in self.row_texts()[0],
                   "the JSON row alone", WAIT)
        self.click_row(f"/json/{tag}")
        detail = self.driver.find_element(By.CSS_SELECTOR, "[data-detail]")
        wait_until(lambda: f"json-{tag}" in detail.text, "the X-Unique header in the detail",
                   WAIT)
        # The JSON body, pretty-printed.
        wait_until(lambda: '"name": "ada"' in detail.text, "the pretty JSON body", WAIT)

    def test_4_copy_as_curl_and_replay_from_the_buttons(self):
        tag = self.tag
        path = f"/json/{tag}"
        d = self.driver
        d.find_element(By.CSS_SELECTOR, "[data-detail] [data-action=curl]").click()
        curl = wait_until(lambda: d.find_elements(By.CSS_SELECTOR, "pre[data-curl]"),
                          "the curl command", WAIT)[0]
        self.assertTrue(curl.text.startswith("curl "), curl.text)
        self.assertIn(path, curl.text)
        before = self.ui_origin.count(path)
        d.find_element(By.CSS_SELECTOR, "[data-detail] [data-action=replay]").click()
        note = wait_until(lambda: d.find_elements(By.CSS_SELECTOR, "[data-replayed]"),
                          "the replay's id", WAIT)[0]
        new_id = note.get_attribute("data-replayed")
        wait_until(lambda: d.find_elements(By.CSS_SELECTOR, f'tr[data-flow-id="{new_id}"]'),
                   "the replayed flow's row", WAIT)
        wait_until(lambda: self.ui_origin.count(path) == before + 1, "the origin hit again",
                   WAIT)
        marked = d.execute_script(
            f"return document.querySelector('tr[data-flow-id=\"{new_id}\"] td.m').textContent")
        self.assertEqual(marked, "» GET")  # a replay is marked in the list

    def test_5_keyboard_and_screenshot(self):
        d = self.driver
        box = d.find_element(By.CSS_SELECTOR, "input[name=filter]")
        box.clear()
        box.send_keys(self.tag)
        wait_until(lambda: len(self.rows()) >= 5 and all(self.tag in t for t in self.row_texts()),
                   "every row of this run", WAIT)
        box.send_keys(Keys.ESCAPE)
        ids = self.driver.execute_script(
            "return [...document.querySelectorAll('tr[data-flow-id]')].map(r => r.dataset.flowId)")
        self.driver.find_element(By.CSS_SELECTOR, f'tr[data-flow-id="{ids[0]}"]').click()
        body = d.find_element(By.TAG_NAME, "body")
        body.send_keys(Keys.ARROW_DOWN)
        wait_until(lambda: d.find_element(By.CSS_SELECTOR, "tr.selected")
                   .get_attribute("data-flow-id") == ids[1], "the next row selected", WAIT)
        body.send_keys(Keys.ARROW_UP)
        wait_until(lambda: d.find_element(By.CSS_SELECTOR, "tr.selected")
                   .get_attribute("data-flow-id") == ids[0], "the row above selected", WAIT)
        body.send_keys("/")
        self.assertEqual(d.switch_to.active_element.get_attribute("name"), "filter")
        box.clear()
        self.click_row(f"/json/{self.tag}")
        # The picture shows the body view: wait until it has rendered.
        detail = d.find_element(By.CSS_SELECTOR, "[data-detail]")
        wait_until(lambda: '"name": "ada"' in detail.text, "the pretty JSON body", WAIT)
        out = binary_path().resolve().parent / "ui-screenshot.png"
        self.assertTrue(d.save_screenshot(str(out)))
        self.assertGreater(out.stat().st_size, 10000)


if __name__ == "__main__":
    unittest.main()
