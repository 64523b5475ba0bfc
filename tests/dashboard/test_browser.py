"""The dashboard in a real browser: Debian's headless Chromium, driven by Playwright, against a live server.

Needs /usr/bin/chromium (Debian packages chromium + chromium-driver; `CHROMIUM=<path>` for another) and the
`browser` extra (`pip install -e '.[browser]'`, which brings Playwright; no browser is ever downloaded).
Skipped otherwise, as in CI. Playwright starts Chromium with a fresh temporary profile each time. With
SAVE_SCREENSHOTS=1 the page is saved to docs/dashboard.png.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from mock_exchanges.flow import FlowConfig
from mock_exchanges.server import MockExchange, MockExchangeConfig, MockExchangeServer
from tests.faults.conftest import raw_client
from tests.server.conftest import wait_for

#: Debian's Chromium (packages chromium + chromium-driver); CHROMIUM=<path> points elsewhere
CHROMIUM = Path(os.environ.get("CHROMIUM", "/usr/bin/chromium"))
if not CHROMIUM.is_file():
    pytest.skip(f"no Chromium at {CHROMIUM} (Debian: apt-get install chromium chromium-driver): browser test skipped",
                allow_module_level=True)
playwright = pytest.importorskip(
    "playwright.async_api", exc_type=ImportError,
    reason="Playwright is not installed (pip install -e '.[browser]'): browser test skipped")

#: what the machine's Chromium needs to start headless, offline, with no background traffic
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
WAIT_MS = 10_000
SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "dashboard.png"


@pytest.fixture
async def server() -> AsyncIterator[MockExchangeServer]:
    config = MockExchangeConfig(seed=7, flow=FlowConfig(levels_per_side=60, rate_per_s=40))
    async with MockExchangeServer(MockExchange(config)) as running:
        yield running


@pytest.fixture
async def page(tmp_path: Path) -> AsyncIterator[Any]:
    async with playwright.async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, timeout=WAIT_MS * 3)
        try:
            context = await browser.new_context(viewport={"width": 1400, "height": 1100})
            opened = await context.new_page()
            errors: list[str] = []
            opened.on("pageerror", lambda error: errors.append(str(error)))
            yield opened
            assert errors == [], f"the page raised: {errors}"
        finally:
            await browser.close()


async def text(page: Any, selector: str) -> str:
    value: str = await page.locator(selector).first.inner_text(timeout=WAIT_MS)
    return value.strip()


async def shows(page: Any, selector: str, expected: str) -> None:
    """Wait (bounded) until the element's text is `expected`."""
    await playwright.expect(page.locator(selector).first).to_have_text(expected, timeout=WAIT_MS)


async def test_steering_from_the_page(server: MockExchangeServer, page: Any) -> None:
    exchange, engine = server.exchange, server.exchange.engine
    btc = '.market[data-symbol="BTCUSDT"]'
    async with aiohttp.ClientSession() as http, raw_client(http, server.ws_url + "/ws/btcusdt@depth") as client:
        await page.goto(server.base_url + "/")
        await shows(page, "#live", "live")

        async def ladder_is_true() -> bool:
            return await text(page, f"{btc} .best-bid") == str(engine.book("BTCUSDT", 1).best_bid)

        for _ in range(100):  # the flow moves the book: some snapshot shows the engine's best bid (bounded)
            if await ladder_is_true():
                break
            await page.wait_for_timeout(100)
        assert await ladder_is_true()

        await page.get_by_role("button", name="Pause flow").click()
        await shows(page, "#flow-state", "flow paused")
        assert exchange.flow_paused
        best_bid = str(engine.book("BTCUSDT", 1).best_bid)
        await shows(page, f"{btc} .best-bid", best_bid)  # frozen now: the ladder and the engine agree exactly
        await shows(page, f'{btc} tr.bid >> nth=0 >> td.price', best_bid)

        spec = engine.markets["BTCUSDT"].spec
        await page.locator("#move-symbol").select_option("BTCUSDT")
        await page.locator("#move-price").fill("30150")
        await page.get_by_role("button", name="Move price").click()
        await shows(page, f"{btc} .flow-mid", str(spec.price(spec.price_to_ticks(Decimal("30150")))))
        assert exchange.flows["BTCUSDT"].mid_ticks == spec.price_to_ticks(Decimal("30150"))

        perp = '.market[data-symbol="BTCUSDT-PERP"]'
        await shows(page, f"{perp} .settled-value", "0")
        await page.locator("#funding-symbol").select_option("BTCUSDT-PERP")
        await page.get_by_role("button", name="Trigger funding").click()
        await shows(page, f"{perp} .settled-value", "1")
        assert len(engine.funding_history("BTCUSDT-PERP")) == 1

        await page.locator("#scenario-name").select_option("gaps")
        await page.get_by_role("button", name="Start scenario").click()
        await shows(page, "#scenario", "gaps")
        conn = next(iter(exchange.connections.values()))
        await page.locator(f'#connections button[data-id="{conn.connection_id}"]').click()
        await asyncio.wait_for(client.closed, WAIT_MS / 1000)
        await playwright.expect(page.locator("#connections tr")).to_have_count(0, timeout=WAIT_MS)

        # the scenario's rules reach connections opened from now on: each drops its 25th diff once the flow runs
        url = server.ws_url + "/ws/btcusdt@depth"
        async with raw_client(http, url), raw_client(http, url + "@100ms"):
            await wait_for(lambda: sum(1 for c in exchange.connections.values() if c.subscriptions) == 2)
            await page.get_by_role("button", name="Resume flow").click()
            await shows(page, "#flow-state", "flow running")
            scheduled = page.locator("#fault-log tr").filter(has_text=re.compile(r"depth message #25\s*$"))
            await playwright.expect(scheduled).to_have_count(2, timeout=WAIT_MS)
            assert await text(page, "#fault-log tr >> nth=-1 >> td.kind") == "drop"
            await playwright.expect(page.locator("#connections tr")).to_have_count(2, timeout=WAIT_MS)
            if os.environ.get("SAVE_SCREENSHOTS"):
                shot = SCREENSHOT.with_suffix(".tmp.png")
                await page.screenshot(path=str(shot), full_page=True)
                shutil.move(shot, SCREENSHOT)


async def test_the_page_carries_the_token(page: Any) -> None:
    exchange = MockExchange(MockExchangeConfig(seed=7, flow=FlowConfig(levels_per_side=20, rate_per_s=20)))
    async with MockExchangeServer(exchange, control_token="t0ken") as server:
        response = await page.goto(server.base_url + "/")
        assert response.status == 401
        await page.goto(server.base_url + "/?token=t0ken")
        await shows(page, "#live", "live")  # the socket took the token from the page's URL
        await page.get_by_role("button", name="Pause flow").click()  # and the control API, as a bearer token
        await shows(page, "#flow-state", "flow paused")
        assert exchange.flow_paused
