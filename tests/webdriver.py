"""A small W3C WebDriver client for headless Chromium: plain JSON over HTTP on loopback, spoken
with http.client, so that no browser-automation package is needed. Shared by
tests/dashboard_webdriver.py (the dashboard's browser test) and scripts/perfetto-screenshot.py
(the Perfetto screenshot in docs/img/).

    with Chromium(window="1280,1250") as driver:
        driver.go(url)
        driver.js("return document.title")
        png = driver.screenshot()
"""

import base64
import http.client
import json
import socket
import subprocess
import sys
import time


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class WebDriver:
    """The few WebDriver commands these scripts need: new session, navigate, run a script, click,
    screenshot, end the session."""

    def __init__(self, port, window="1280,1250"):
        self.port = port
        self.window = window
        self.session = None

    def call(self, method, path, body=None):
        # Generous: on a loaded machine starting Chromium alone can take tens of seconds.
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=120)
        if not path.endswith("/execute/sync"):  # the polled read would flood the log
            print(f"webdriver: {method} {path}", file=sys.stderr, flush=True)
        data = None if body is None else json.dumps(body)
        conn.request(method, path, body=data, headers={"Content-Type": "application/json"})
        resp = conn.getresponse()
        payload = json.loads(resp.read() or b"{}")
        conn.close()
        if resp.status != 200:
            raise RuntimeError(f"{method} {path}: {resp.status} {payload}")
        return payload.get("value")

    def start(self):
        caps = {
            "capabilities": {
                "alwaysMatch": {
                    "browserName": "chrome",
                    "goog:chromeOptions": {
                        "binary": "/usr/bin/chromium",
                        "args": [
                            "--headless=new",
                            "--no-sandbox",
                            "--disable-gpu",
                            "--disable-dev-shm-usage",
                            f"--window-size={self.window}",
                        ],
                    },
                }
            }
        }
        self.session = self.call("POST", "/session", caps)["sessionId"]

    def go(self, url):
        self.call("POST", f"/session/{self.session}/url", {"url": url})

    def js(self, script):
        return self.call("POST", f"/session/{self.session}/execute/sync", {"script": script, "args": []})

    def click(self, x, y):
        """A left click at (x, y) in the viewport, through the Actions API."""
        pointer = {
            "type": "pointer",
            "id": "mouse",
            "parameters": {"pointerType": "mouse"},
            "actions": [
                {"type": "pointerMove", "duration": 0, "x": x, "y": y, "origin": "viewport"},
                {"type": "pointerDown", "button": 0},
                {"type": "pointerUp", "button": 0},
            ],
        }
        self.call("POST", f"/session/{self.session}/actions", {"actions": [pointer]})

    def screenshot(self):
        return base64.b64decode(self.call("GET", f"/session/{self.session}/screenshot"))

    def quit(self):
        if self.session:
            try:
                self.call("DELETE", f"/session/{self.session}")
            except Exception:
                pass


class Chromium:
    """chromedriver on a free loopback port with one browser session, ended on exit."""

    def __init__(self, window="1280,1250"):
        self.window = window

    def __enter__(self):
        port = free_port()
        self.chromedriver = subprocess.Popen(
            ["chromedriver", f"--port={port}"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        self.driver = WebDriver(port, self.window)
        try:
            deadline = time.time() + 30
            while True:
                try:
                    if self.driver.call("GET", "/status").get("ready"):
                        break
                except (OSError, RuntimeError, ValueError):
                    pass
                if time.time() > deadline:
                    sys.exit("chromedriver did not become ready within 30 s")
                time.sleep(0.1)
            self.driver.start()
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self.driver

    def __exit__(self, *exc):
        self.driver.quit()
        self.chromedriver.terminate()
        try:
            self.chromedriver.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.chromedriver.kill()
        return False
