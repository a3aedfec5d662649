"""Screenshots of the MLflow UI for the README, taken in headless Chromium.

    mlflow ui --backend-store-uri sqlite:///mlflow.db --port 5000 &     # after `make run`
    python docs/ui_screenshot.py http://127.0.0.1:5000 1 docs/mlflow-ui-compare.png sqlite:///mlflow.db

Drives Chromium over the DevTools protocol (through `websockets`, which Prefect already
installs): opens the compare view of the latest flow run's variants on the model-training
pages, closes the assistant side panel and saves a PNG. A documentation helper, not part
of the package.
"""

from __future__ import annotations

import asyncio
import base64
import json
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request

WIDTH, HEIGHT = 1440, 1290
# Close the assistant side panel, which otherwise takes a third of the width.
CLOSE_ASSISTANT = """
(() => {
  const panel = [...document.querySelectorAll('*')].find(
    e => e.children.length < 40 && /MLflow Assistant/.test(e.textContent || '')
         && e.querySelector('button[aria-label*="lose"], button[aria-label*="Close"]'));
  const button = panel && panel.querySelector('button[aria-label*="lose"]');
  if (button) button.click();
  return Boolean(button);
})()
"""
# Fold the plots away and keep only the params that differ: the tables line up the variants.
TABLES_ONLY = """
(() => {
  const byText = text => [...document.querySelectorAll('button, [role=button], span, div')]
    .filter(e => e.children.length <= 2 && (e.textContent || '').trim() === text);
  const fold = byText('Visualizations')[0];
  if (fold) fold.click();
  const diff = [...document.querySelectorAll('[role=switch], button')]
    .find(e => /Show diff only/.test(e.parentElement && e.parentElement.textContent || ''));
  if (diff) diff.click();
  return [Boolean(fold), Boolean(diff)];
})()
"""


def variant_run_ids(tracking_uri: str, experiment_id: str) -> list[str]:
    """The variant runs of the newest flow run, in params order."""
    import mlflow

    from mlflow_tflite.tracking import latest_flow_run, load_records

    mlflow.set_tracking_uri(tracking_uri)
    name = mlflow.MlflowClient().get_experiment(experiment_id).name
    return [r.run_id for r in load_records(latest_flow_run(name)) if r.run_id]


async def capture(url: str, path: str, port: int) -> None:
    import websockets

    pages = json.load(urllib.request.urlopen(f"http://127.0.0.1:{port}/json"))
    socket = next(p["webSocketDebuggerUrl"] for p in pages if p["type"] == "page")
    async with websockets.connect(socket, max_size=2**27) as ws:
        ids = iter(range(1, 10_000))

        async def call(method: str, **params: object) -> dict:
            number = next(ids)
            await ws.send(json.dumps({"id": number, "method": method, "params": params}))
            while True:
                reply = json.loads(await ws.recv())
                if reply.get("id") == number:
                    return reply.get("result", {})

        await call("Emulation.setDeviceMetricsOverride", width=WIDTH, height=HEIGHT,
                   deviceScaleFactor=1, mobile=False)
        await call("Page.navigate", url=url)
        await asyncio.sleep(12)
        for script in (CLOSE_ASSISTANT, TABLES_ONLY):
            await call("Runtime.evaluate", expression=script)
            await asyncio.sleep(2)
        shot = await call("Page.captureScreenshot", format="png")
        with open(path, "wb") as handle:
            handle.write(base64.b64decode(shot["data"]))


def _wait_for_devtools(port: int, timeout_s: float = 60.0) -> None:
    """Until Chromium's DevTools endpoint answers: on a busy machine it starts in tens of
    seconds, not the 3 s it takes when idle."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/json/version", timeout=5).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


def main(base: str, experiment_id: str, path: str, tracking_uri: str) -> None:
    runs = json.dumps(variant_run_ids(tracking_uri, experiment_id))
    query = urllib.parse.urlencode({"runs": runs, "experiments": json.dumps([experiment_id]),
                                    "workflowType": "machine_learning"})
    url = f"{base.rstrip('/')}/#/compare-runs?{query}"
    port = 9333
    with tempfile.TemporaryDirectory() as profile:
        browser = subprocess.Popen(
            [shutil.which("chromium") or "chromium", "--headless=new", "--no-sandbox",
             "--disable-gpu", "--hide-scrollbars", f"--remote-debugging-port={port}",
             f"--user-data-dir={profile}", f"--window-size={WIDTH},{HEIGHT}", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        try:
            _wait_for_devtools(port)
            asyncio.run(capture(url, path, port))
        finally:
            browser.terminate()
            browser.wait(timeout=30)
    print(f"wrote {path} from {url}")


if __name__ == "__main__":
    main(*sys.argv[1:5])
