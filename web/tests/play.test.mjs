// A page logs in, connects over WebSocket, moves with the keyboard (a
// diagonal too), sees a native headless client's avatar move, and the
// native client sees the browser player move; the server's metrics show
// the WebSocket session. A screenshot is left in web/test-artifacts/.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, launchBrowser, playInPage, nativeClient, until, artifactPath } from './harness.mjs';

let server;
let browser;

before(async () => {
  // 150 entities in view (110 NPCs, 39 orbs and the player; the whole
  // world in view), so the frame cost printed below is at that load.
  server = await startServer(['--npcs', '110', '--orbs', '39', '--view-radius', '5000', '--snapshot-budget', '6000']);
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

const own = (page) => page.evaluate(() => window.tickforge.status().own);

/** Holds `keys` for `ms` and returns how far the own avatar went, per axis. */
async function hold(page, keys, ms) {
  const [x0, y0] = await own(page);
  for (const key of keys) await page.keyboard.down(key);
  await page.waitForTimeout(ms);
  for (const key of keys) await page.keyboard.up(key);
  await page.waitForTimeout(150);
  const [x1, y1] = await own(page);
  return [x1 - x0, y1 - y0];
}

test('a browser player and a native player see each other move', async () => {
  const { page, errors } = await playInPage(browser, server, 'webplayer', 'web-password-1');
  const status = await page.evaluate(() => window.tickforge.status());
  assert.ok(status.connected, 'connected over WebSocket');
  assert.ok(status.tick > 0);

  // The keyboard moves the avatar: right, then down-left (two keys).
  const [dx] = await hold(page, ['KeyD'], 700);
  assert.ok(dx > 40, `D moved the avatar right (${dx})`);
  const [ax, ay] = await hold(page, ['KeyS', 'ArrowLeft'], 700);
  assert.ok(ax < -30 && ay > 30, `S + left moved it down-left (${ax}, ${ay})`);
  const diagonal = Math.hypot(ax, ay);
  assert.ok(Math.abs(Math.abs(ax) - Math.abs(ay)) < diagonal * 0.2, `a true diagonal (${ax}, ${ay})`);

  // A native client walks circles for 6 s while the page walks up and left.
  const native = nativeClient(server, 'nativeplayer', 'native-password-1', 6, 'circle');
  const seen = await until('the native avatar in the page', async () => {
    const avatars = await page.evaluate(() => window.tickforge.status().avatars);
    return avatars.find((a) => a.name === 'nativeplayer');
  });
  const walking = (async () => {
    for (let i = 0; i < 4; i += 1) await hold(page, [i % 2 ? 'KeyW' : 'KeyA'], 800);
  })();
  await page.waitForTimeout(1500);
  const later = await page.evaluate(() => window.tickforge.status().avatars.find((a) => a.name === 'nativeplayer'));
  assert.ok(later, 'the native avatar stays in view');
  const moved = Math.hypot(later.x - seen.x, later.y - seen.y);
  assert.ok(moved > 20, `the page saw the native avatar move (${moved.toFixed(1)} units)`);
  await page.screenshot({ path: artifactPath('browser-and-native.png') });
  await walking;
  const summary = await native;
  const browserPlayer = summary.others?.webplayer;
  assert.ok(browserPlayer, `the native client saw the browser player: ${JSON.stringify(summary.others)}`);
  assert.ok(browserPlayer.moved > 20, `and saw it move (${browserPlayer.moved})`);

  // The server counts the WebSocket session.
  const metrics = await (await fetch(`${server.admin}/metrics`)).text();
  assert.match(metrics, /^tickforge_ws_players 1(\.0)?$/m);
  assert.match(metrics, /^tickforge_ws_links_opened_total [1-9]/m);
  const frames = await page.evaluate(() => window.tickforge.frameStats());
  const inView = await page.evaluate(() => window.tickforge.status().entities);
  console.log(`frame cost (update + draw) at ${inView} entities in view over ${frames.frames} frames (a native client and the server on the same cores): p50 ${frames.p50?.toFixed(2)} ms, p99 ${frames.p99?.toFixed(2)} ms`);
  assert.ok(inView >= 140, `the whole world in view (${inView} entities)`);

  // Chat: Enter opens the line, Enter sends it and closes it; the server
  // relays it to everyone, the page included, and the keys move again.
  await page.keyboard.press('Enter');
  await page.keyboard.type('hello from the page');
  await page.keyboard.press('Enter');
  const line = await until('the chat line back from the server', async () => {
    const chat = await page.evaluate(() => window.tickforge.status().chat);
    return chat.find(([from, text]) => from === 'webplayer' && text === 'hello from the page');
  });
  assert.ok(line);
  assert.equal(await page.evaluate(() => document.getElementById('chat').style.display), 'none', 'the chat line closed');
  const [cx] = await hold(page, ['KeyD'], 500);
  assert.ok(cx > 20, `keys move the avatar after chatting (${cx})`);
  await page.screenshot({ path: artifactPath('browser-chat.png') });
  assert.deepEqual(errors, [], 'no errors in the page');
});

test('a page from another origin cannot open the game socket', async () => {
  const page = await browser.newPage();
  try {
    // A page of another origin (about:blank's is opaque) tries the socket.
    const outcome = await page.evaluate((url) => new Promise((resolve) => {
      const socket = new WebSocket(url);
      socket.onopen = () => resolve('open');
      socket.onerror = () => resolve('refused');
    }), `ws://${server.ws}/ws`);
    assert.equal(outcome, 'refused');
    const metrics = await (await fetch(`${server.admin}/metrics`)).text();
    assert.match(metrics, /^tickforge_ws_refused_total\{reason="origin"\} [1-9]/m);
  } finally {
    await page.close();
  }
});

test('/play/ without a build says how to build it', async () => {
  const bare = await startServer(['--web-dir', '/nonexistent-web-dir']);
  try {
    const answer = await fetch(`${bare.api}/play/`);
    assert.equal(answer.status, 503);
    assert.match(await answer.text(), /scripts\/build-web\.sh/);
  } finally {
    await bare.stop();
  }
});
