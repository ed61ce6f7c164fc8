"""The Plex tab on Stash's scene page, in a real headless Chromium.

The Stash emulator serves a stand-in of Stash's UI (``sandbox/stash_ui.py``: React and
react-bootstrap from npm, ``window.PluginApi`` with Stash's patch functions, a patchable
``ScenePage``) and the plugin's real ``ui/plexsync.js`` and ``ui/plexsync.css`` as Stash
serves them; ``runPluginOperation`` launches ``plexsync.py`` exactly as Stash does. The
browser logs in with a session cookie only (no API key), as a user's browser does.

One browser and one world for the module: scenes are put into each state once (matched,
unmatched, queued, dead-lettered), then each test opens one scene's page.

Needs Debian's ``chromium`` and ``chromium-driver`` (``make browser`` installs them) and
``npm ci`` in sandbox/ui (``make test`` runs it). Missing, the tests fail and say so,
unless ``PLEXSYNC_NO_BROWSER=1`` asks to skip them.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from pathlib import Path
from urllib.parse import unquote

import pytest

from sandbox.stash_ui import StashUI, vendor_missing
from tests.e2e_helpers import ROOT, close_sandbox
from tests.test_e2e_sync import make_sandbox
from worker.lock import DrainLock
from worker.trigger import mark_retry_due

pytestmark = pytest.mark.slow

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
SCREENSHOT = ROOT / "bench" / "results" / "ui_panel.png"
#: Plugin launches take ~1 s each on a busy 2-core machine; the page waits for two.
WAIT_SECONDS = 90
#: Chromium flags: headless, and nothing that reaches the network on its own.
CHROME_FLAGS = ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--disable-dev-shm-usage", "--window-size=1100,900")


def _browser_or_reason() -> str | None:
    missing = [p for p in (CHROMIUM, CHROMEDRIVER) if not os.path.exists(p)]
    if missing:
        return (f"{' and '.join(missing)} missing: install Debian's chromium and chromium-driver "
                "(`make browser`, as root), or set PLEXSYNC_NO_BROWSER=1 to skip the browser tests")
    if vendor_missing():
        return "the sandbox page's npm packages are missing: run `npm ci` in sandbox/ui (`make test` does)"
    return None


@pytest.fixture(scope="module")
def driver():
    if os.environ.get("PLEXSYNC_NO_BROWSER") == "1":
        pytest.skip("PLEXSYNC_NO_BROWSER=1: browser tests skipped on request")
    reason = _browser_or_reason()
    if reason:
        pytest.fail(reason)
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="plexsync-chromium-")
    options = Options()
    options.binary_location = CHROMIUM
    for flag in (*CHROME_FLAGS, f"--user-data-dir={profile}"):
        options.add_argument(flag)
    # Both paths given: Selenium never looks for (or downloads) a driver or browser.
    browser = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    browser.set_page_load_timeout(WAIT_SECONDS)
    yield browser
    browser.quit()
    shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture(scope="module")
def world(tmp_path_factory, driver):
    """Six scenes: A matched, C unmatched (its Plex item gone), D dead-lettered (no file),
    B queued, E left for *Sync now*."""
    box = make_sandbox(tmp_path_factory.mktemp("ui"), scenes=6, job_queue="background", seed=14)
    box.configure(no_plex_scan=True)
    ui = StashUI(box.runner)
    box.stash.ui = ui
    a, b, c, e = (box.world.scenes[i] for i in (0, 1, 2, 4))
    box.plex.remove_item(c.plex_key)
    d_id = box.stash.add_scene(title="A scene without a file", files=[])
    box.queue_quietly([a, c])
    with DrainLock(box.data_dir):        # queued without asking Stash for a drain
        box.hook(d_id)
    box.drain(max_wait="0")
    box.queue_quietly([b])
    # C waits to retry (Plex still lacks its file). Its due time would make the next
    # plugin run ask Stash for a drain, which would take B out of the queue while the
    # tests look at it: the tests don't wait for that retry.
    mark_retry_due(box.data_dir, time.time() + 3600)
    # The browser logs in as a user does: a session cookie, no API key.
    driver.get(box.stash.url + "/login")
    driver.add_cookie({"name": "session", "value": box.stash.new_session(), "path": "/"})
    yield {"box": box, "ui": ui, "A": a, "B": b, "C": c, "D": d_id, "E": e}
    box.stash.ui = None
    # A drain may be waiting for C's next retry (Stash's queue is empty, so it may): another
    # job in Stash's queue makes it hand over at once instead of holding the teardown.
    box.stash.add_job("Scan")
    close_sandbox(box)


def open_panel(driver, box, scene_id) -> dict:
    """Open the scene's page, click its Plex tab, wait until the panel has answered."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    driver.get(f"{box.stash.url}/scenes/{scene_id}")
    WebDriverWait(driver, WAIT_SECONDS).until(lambda d: d.find_elements(By.LINK_TEXT, "Plex"))
    driver.find_element(By.LINK_TEXT, "Plex").click()
    return wait_idle(driver)


def wait_idle(driver) -> dict:
    """Wait until the panel shows a state and nothing is in flight; its texts by test id."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    def ready(d):
        panel = d.find_elements(By.CSS_SELECTOR, "[data-testid=plexsync-panel]")
        if not panel or panel[0].get_attribute("data-busy"):
            return False
        shown = d.find_elements(By.CSS_SELECTOR, "[data-testid=plexsync-state], [data-testid=plexsync-error]")
        status = d.find_elements(By.CSS_SELECTOR, "[data-testid=plexsync-status-queue]")
        return bool(shown and status)

    WebDriverWait(driver, WAIT_SECONDS).until(ready)
    texts = {el.get_attribute("data-testid"): el.text
             for el in driver.find_elements(By.CSS_SELECTOR, "[data-testid]")}
    state = driver.find_elements(By.CSS_SELECTOR, "[data-testid=plexsync-state]")
    texts["state"] = state[0].get_attribute("data-state") if state else None
    return texts


def assert_no_token(driver, world) -> None:
    token = world["box"].plex.token
    assert token not in driver.page_source
    for run in world["ui"].operations:
        assert token not in json.dumps(run.output) and token not in (run.error or "")


def test_matched_scene_shows_its_plex_item_and_a_tokenless_open_link(driver, world):
    box, a = world["box"], world["A"]
    shown = open_panel(driver, box, a.stash_id)
    assert shown["state"] == "matched", shown
    assert shown["plexsync-library"] == "Movies"
    assert shown["plexsync-file"] == a.plex_files[0]
    assert shown["plexsync-title"] == box.plex.item(a.plex_key)["title"]
    assert shown["plexsync-rating-key"] == str(a.plex_key)
    from selenium.webdriver.common.by import By

    href = driver.find_element(By.CSS_SELECTOR, "[data-testid=plexsync-open]").get_attribute("href")
    machine = box.plex.machine_identifier
    assert href.startswith(f"https://app.plex.tv/desktop#!/server/{machine}/details?key=")
    assert unquote(href.split("key=", 1)[1]) == f"/library/metadata/{a.plex_key}"
    assert box.plex.token not in href and "X-Plex-Token" not in href
    # Compare: the dry run for this scene, nothing to change; then the README's screenshot.
    driver.find_element(By.CSS_SELECTOR, "[data-testid=plexsync-compare-button]").click()
    shown = wait_idle(driver)
    assert shown["plexsync-compare"].endswith("Plex shows what Stash has."), shown
    # The README's picture: rewritten only when missing or asked for, so a test run leaves
    # the work tree clean (its times change every run).
    shot = world["box"].data_dir + "/ui_panel.png"
    assert driver.find_element(By.CSS_SELECTOR, ".scene-page").screenshot(shot)
    assert Path(shot).read_bytes().startswith(b"\x89PNG")
    if os.environ.get("PLEXSYNC_UPDATE_SCREENSHOT") == "1" or not SCREENSHOT.exists():
        SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shot, SCREENSHOT)
    assert_no_token(driver, world)


def test_status_card_shows_the_status_tasks_facts(driver, world):
    box = world["box"]
    shown = open_panel(driver, box, world["A"].stash_id)
    assert shown["plexsync-status-plex"].startswith("Plex: PlexSync Sandbox"), shown
    assert shown["plexsync-status-breaker"] == "Circuit: closed"
    assert shown["plexsync-status-dlq"] == "Dead-letter: 1"          # scene D
    # B is ready; C waits to retry (or is due by now): two jobs.
    ready, waiting = (int(w) for w in shown["plexsync-status-queue"].replace(",", "").split() if w.isdigit())
    assert ready + waiting == 2 and ready >= 1, shown
    assert shown["plexsync-status-drain"].startswith("Last drain: ")
    assert "never" not in shown["plexsync-status-drain"]


def test_status_card_on_the_plugins_settings(driver, world):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    driver.get(world["box"].stash.url + "/settings")
    WebDriverWait(driver, WAIT_SECONDS).until(
        lambda d: d.find_elements(By.CSS_SELECTOR, "[data-plugin=plexsync] ~ .plexsync-settings-status "
                                                   "[data-testid=plexsync-status-queue]"))
    card = driver.find_element(By.CSS_SELECTOR, ".plexsync-settings-status").text
    assert "Plex: PlexSync Sandbox" in card and "Dead-letter: 1" in card and "Circuit: closed" in card


def test_unmatched_scene_says_why(driver, world):
    shown = open_panel(driver, world["box"], world["C"].stash_id)
    assert shown["state"] == "unmatched", shown
    assert "Plex has no item for" in shown["plexsync-state-detail"], shown
    assert "Next try at" in shown["plexsync-state-detail"]           # its retry waits
    assert world["C"].plex_files[0].rsplit("/", 1)[1] in shown["plexsync-state-detail"], shown


def test_dead_lettered_scene_shows_the_reason(driver, world):
    shown = open_panel(driver, world["box"], world["D"])
    assert shown["state"] == "dead_lettered", shown
    assert "PermanentError" in shown["plexsync-state-detail"]
    assert "no files" in shown["plexsync-state-detail"]


def test_queued_scene_shows_queued_and_the_running_drain(driver, world):
    box = world["box"]
    with DrainLock(box.data_dir) as held:    # a drain "runs": the job stays queued
        assert held
        shown = open_panel(driver, box, world["B"].stash_id)
    assert shown["state"] == "queued", shown
    assert "A sync is running" in shown["plexsync-state-detail"]


def test_sync_now_writes_plex_and_the_panel_follows(driver, world):
    from selenium.webdriver.common.by import By

    box, e = world["box"], world["E"]
    box.edit(e, title="Retitled in Stash, synced from the Plex tab")
    shown = open_panel(driver, box, e.stash_id)
    assert shown["state"] == "never_synced", shown
    driver.find_element(By.CSS_SELECTOR, "[data-testid=plexsync-sync-now]").click()
    shown = wait_idle(driver)
    assert shown.get("plexsync-message") == "Synced now.", shown
    assert shown["state"] == "matched"
    assert box.plex.item(e.plex_key)["title"] == "Retitled in Stash, synced from the Plex tab"
    assert_no_token(driver, world)


def test_plex_down_is_shown_not_hidden(driver, world):
    box = world["box"]
    box.plex.set_down(True)
    try:
        shown = open_panel(driver, box, world["A"].stash_id)
    finally:
        box.plex.set_down(False)
    assert shown["state"] == "matched"                 # what PlexSync knows, still shown
    assert shown["plexsync-unreachable"].startswith("Plex unreachable: cannot connect"), shown
    assert shown["plexsync-status-plex"].startswith("Plex unreachable"), shown


def test_the_page_is_served_with_the_plugins_real_files():
    yml = (ROOT / "plexsync.yml").read_text(encoding="utf-8")
    assert "ui/plexsync.js" in yml and "ui/plexsync.css" in yml
    assert Path(ROOT / "ui" / "plexsync.js").is_file() and Path(ROOT / "ui" / "plexsync.css").is_file()
