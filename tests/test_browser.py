"""The SHARD browser (shard.reporting.browser) in a real headless Chromium, driven over the DevTools protocol.

The page is opened from disk (file://), as a user opens it: it must load with no console error, its
filters must change the rows shown, and a clip must play. Skipped where Debian's `chromium` or the
`websocket-client` package is missing. Set SHARD_BROWSER_SCREENSHOT=docs/browser.png to also write the
README's screenshot (headless Chromium, 1200x800).
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
import urllib.request
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from shard.reporting.browser import audio_names, build_browser, load_predictions
from shard.common import ShardError
from tests.fixtures import build_tiny_shard, clip_audio

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CONDITIONS = {"original": 0.5, "ft_40k": 0.8}  # share of right answers in the fake predictions


def _write_predictions(results: Path, items: pl.DataFrame) -> list[Path]:
    """eval/{condition}/semantic.jsonl as the evaluate rule writes them (item_id, prediction, correct)."""
    paths = []
    for k, (condition, p) in enumerate(CONDITIONS.items()):
        rand = np.random.default_rng(k)
        records = []
        for r in items.iter_rows(named=True):
            right = bool(rand.random() < p)
            wrong = next(o for o in r["options"] if o != r["answer"])
            records.append({"item_id": r["item_id"], "prediction": r["answer"] if right else wrong, "correct": right})
        path = results / "eval" / condition / "semantic.jsonl"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("".join(json.dumps(r) + "\n" for r in records))
        paths.append(path)
    return paths


def _build(results: Path, out: Path, predictions: list[Path]) -> Path:
    build_browser(test=results / "shard" / "test.parquet", clips_parquet=results / "clips" / "clips.parquet",
                  audio=results / "clips" / "test_audio.npy", label_synsets=results / "wordnet" / "label_synsets.parquet",
                  predictions=predictions, out_dir=out, sample_rate=16000)
    return out


@pytest.fixture(scope="module")
def results(tmp_path_factory, wordnet_reader):
    return build_tiny_shard(tmp_path_factory.mktemp("browser"))


@pytest.fixture(scope="module")
def page(results):
    items = pl.read_parquet(results / "shard" / "test.parquet")
    return _build(results, results / "shard" / "browser", _write_predictions(results, items)), items


# ---------------------------------------------------------------- the files written
def test_one_wav_per_clip_and_same_bytes_in_any_folder(page, results, tmp_path):
    out, items = page
    clips = pl.read_parquet(results / "clips" / "clips.parquet")
    pcm = clip_audio(results)
    wavs = sorted((out / "audio").iterdir())
    assert [p.name for p in wavs] == sorted(f"{c}.wav" for c in items["clip_id"].unique())
    import soundfile as sf
    assert set(clips.filter(pl.col("split") == "test")["clip_id"]) >= {w.stem for w in wavs}
    for wav in wavs:
        data, sr = sf.read(wav, dtype="int16")
        assert sr == 16000 and np.array_equal(data, pcm[wav.stem])
    # another folder, another name: identical bytes, and no path of either anywhere in the page
    copy = shutil.copytree(results, tmp_path / "a_second_checkout" / "results", ignore=shutil.ignore_patterns("browser"))
    other = _build(copy, copy / "shard" / "browser",
                   [copy / "eval" / c / "semantic.jsonl" for c in CONDITIONS])
    files = sorted(p.relative_to(out) for p in out.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(other) for p in other.rglob("*") if p.is_file())
    assert all((out / f).read_bytes() == (other / f).read_bytes() for f in files)
    html = (out / "index.html").read_text()
    assert str(results.parent) not in html and str(tmp_path) not in html
    assert "http://" not in html and "https://" not in html  # nothing fetched from the internet


def test_page_without_predictions_has_no_answer_column(results, tmp_path):
    html = (_build(results, tmp_path / "browser", []) / "index.html").read_text()
    assert "filter-outcome" not in html and "<th>answers</th>" not in html
    assert html.count('<tr class="item"') == pl.read_parquet(results / "shard" / "test.parquet").height


def test_bad_predictions_are_named(results, tmp_path):
    stale = tmp_path / "eval" / "original" / "semantic.jsonl"
    stale.parent.mkdir(parents=True)
    stale.write_text(json.dumps({"item_id": "nope", "prediction": "yes", "correct": True}) + "\n")
    with pytest.raises(ShardError, match="not in the test set.*rerun the evaluate rule"):
        load_predictions([stale], {"a"})
    with pytest.raises(ShardError, match="two prediction files for condition 'original'"):
        load_predictions([stale, stale], {"nope"})
    # several models: the same condition twice, told apart by the column names the rule gives
    both = load_predictions([stale, stale], {"nope"}, ["mini_ltu: original", "mini_ltu_h256: original"])
    assert list(both) == ["mini_ltu: original", "mini_ltu_h256: original"] and both["mini_ltu: original"]["nope"]["correct"]
    with pytest.raises(ShardError, match="1 column names for 2 prediction files"):
        load_predictions([stale, stale], {"nope"}, ["original"])


def test_audio_names_are_safe_and_unique():
    names = audio_names(["dog_1_0000_1000", "a b/c?#", "YTabc_0", "ytABC_0", "..x"])
    assert names["dog_1_0000_1000"] == "dog_1_0000_1000.wav"
    assert len({n.lower() for n in names.values()}) == 5
    assert all(n.endswith(".wav") and "/" not in n and " " not in n and not n.startswith(".") for n in names.values())
    assert names["YTabc_0"] != "YTabc_0.wav"  # differs from another only in case: hashed


# ---------------------------------------------------------------- in Chromium
class DevTools:
    """A minimal Chrome DevTools Protocol client over one page's websocket (websocket-client)."""

    def __init__(self, ws_url: str, timeout: float):
        import websocket

        self.ws = websocket.create_connection(ws_url, timeout=timeout, suppress_origin=True)
        self.next_id, self.events = 0, []

    def send(self, method: str, **params):
        self.next_id += 1
        self.ws.send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        while True:
            msg = json.loads(self.ws.recv())
            if msg.get("id") == self.next_id:
                if "error" in msg:
                    raise RuntimeError(f"{method}: {msg['error']}")
                return msg.get("result", {})
            self.events.append(msg)

    def wait_event(self, method: str, timeout: float) -> dict:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            for i, e in enumerate(self.events):
                if e.get("method") == method:
                    return self.events.pop(i)
            self.events.append(json.loads(self.ws.recv()))
        raise TimeoutError(method)

    def eval(self, expression: str):
        out = self.send("Runtime.evaluate", expression=expression, awaitPromise=True, returnByValue=True)
        if "exceptionDetails" in out:
            raise RuntimeError(f"{expression[:80]}: {out['exceptionDetails']}")
        return out["result"].get("value")

    def errors(self) -> list[str]:
        """Console errors, uncaught exceptions and browser-logged errors (e.g. a file that failed to load)."""
        out = []
        for e in self.events:
            m, p = e.get("method"), e.get("params", {})
            if m == "Runtime.consoleAPICalled" and p["type"] in ("error", "assert"):
                out.append(" ".join(str(a.get("value", a.get("description"))) for a in p["args"]))
            elif m == "Runtime.exceptionThrown":
                out.append(p["exceptionDetails"].get("text", "exception"))
            elif m == "Log.entryAdded" and p["entry"]["level"] == "error":
                out.append(p["entry"]["text"])
        return out


CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--no-default-browser-check",
                  "--disable-extensions", "--disable-background-networking", "--disable-sync",
                  "--autoplay-policy=no-user-gesture-required", "--window-size=1200,800", "--hide-scrollbars"]


@pytest.fixture
def chromium(tmp_path):
    """Headless Chromium with the DevTools protocol on a free local port; closed in teardown."""
    if CHROMIUM is None:
        pytest.skip("Debian's chromium is not installed (apt-get install -y chromium)")
    pytest.importorskip("websocket", reason="the websocket-client package drives Chromium (pip install websocket-client)")
    profile = tmp_path / "profile"
    proc = subprocess.Popen([CHROMIUM, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "--remote-debugging-port=0",
                             "about:blank"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        port_file, end = profile / "DevToolsActivePort", time.monotonic() + 60
        while not (port_file.exists() and port_file.read_text().count("\n") >= 1):
            assert proc.poll() is None and time.monotonic() < end, "chromium did not start its DevTools server"
            time.sleep(0.1)
        port = int(port_file.read_text().split()[0])
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10) as resp:
            target = next(t for t in json.load(resp) if t["type"] == "page")
        tools = DevTools(target["webSocketDebuggerUrl"], timeout=30)
        yield tools
        tools.ws.close()
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


VISIBLE = "document.querySelectorAll('tr.item:not([hidden])').length"


def _choose(tools: DevTools, name: str, value: str) -> int:
    tools.eval(f"(() => {{ const s = document.getElementById('filter-{name}'); s.value = {json.dumps(value)};"
               "s.dispatchEvent(new Event('change')); })()")
    return tools.eval(VISIBLE)


def test_page_filters_and_plays_in_chromium(page, chromium, tmp_path):
    out, items = page
    tools = chromium
    for domain in ("Page", "Runtime", "Log"):
        tools.send(f"{domain}.enable")
    tools.send("Page.navigate", url=(out / "index.html").as_uri())
    tools.wait_event("Page.loadEventFired", timeout=30)
    assert tools.eval("document.title").startswith(f"SHARD browser: {items.height} test items")
    assert tools.eval(VISIBLE) == items.height
    assert tools.eval("document.getElementById('shown').textContent") == str(items.height)

    # each filter shows exactly the matching rows; the header counts them
    label = sorted(items["label"].unique())[0]
    assert _choose(tools, "label", label) == items.filter(pl.col("label") == label).height < items.height
    expected = items.filter((pl.col("label") == label) & (pl.col("relation") == "synonym")).height
    assert _choose(tools, "relation", "synonym") == expected
    assert tools.eval("document.getElementById('shown').textContent") == str(expected)
    assert _choose(tools, "format", "mc4") == items.filter(
        (pl.col("label") == label) & (pl.col("relation") == "synonym") & (pl.col("format") == "mc4")).height
    for name in ("label", "relation", "format"):
        _choose(tools, name, "")
    assert tools.eval(VISIBLE) == items.height
    wrong = _choose(tools, "outcome", "wrong")
    right = _choose(tools, "outcome", "right")
    assert 0 < wrong < items.height and wrong + right == items.height
    accuracy = tools.eval("document.querySelector('.acc[data-condition=ft_40k] b').textContent")
    assert accuracy == f"100.0% ({right})"
    _choose(tools, "outcome", "")

    # a clip plays: the player loads its WAV (readyState 4, HAVE_ENOUGH_DATA) and time advances
    state = tools.eval("""(async () => {
        const a = document.querySelector('tr.item audio');
        a.preload = 'auto';
        let played = 'ok';
        try { await a.play(); } catch (e) { played = String(e); }
        const end = Date.now() + 20000;
        while ((a.readyState < 4 || a.currentTime === 0) && !a.error && Date.now() < end)
            await new Promise(r => setTimeout(r, 50));
        return {readyState: a.readyState, duration: a.duration, time: a.currentTime, played: played,
                error: a.error && a.error.message, src: a.getAttribute('src')};
    })()""")
    assert state["error"] is None and state["played"] == "ok", state
    assert state["readyState"] == 4 and state["time"] > 0, state
    assert state["duration"] == pytest.approx(1.0, abs=0.01) and state["src"].startswith("audio/")
    assert tools.errors() == []

    if os.environ.get("SHARD_BROWSER_SCREENSHOT"):  # the README's picture: the page as a user first sees it
        shot = Path(os.environ["SHARD_BROWSER_SCREENSHOT"]).resolve()
        subprocess.run([CHROMIUM, *CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'shot-profile'}",
                        f"--screenshot={shot}", (out / "index.html").as_uri()],
                       check=True, timeout=60, capture_output=True)
        assert shot.stat().st_size < 300_000
