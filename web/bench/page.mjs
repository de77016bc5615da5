// The page's figures, printed (no assertions; scripts/web-bench.sh runs it
// on release binaries): page weight, load to first frame, the frame cost
// at ~150 entities in view, and the bytes a browser and a native client
// receive at the same view; also as JSON in target/reports/browser.json.
import { mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { startServer, launchBrowser, nativeClient, repo, until } from '../tests/harness.mjs';

const seconds = Number(process.env.SECONDS_MEASURED ?? 10);
const dist = join(repo, 'web', 'dist');

// 1. Page weight: wasm + JS, gzipped as served.
const served = readdirSync(dist).filter((f) => /\.(wasm|js)$/.test(f));
const gz = served.map((f) => [f, readFileSync(join(dist, f)).length, gzipSync(readFileSync(join(dist, f)), { level: 9 }).length]);
const total = gz.reduce((n, [, , g]) => n + g, 0);
console.log(`page weight: ${gz.map(([f, raw, g]) => `${f} ${raw} B (${g} B gz)`).join(', ')}; wasm + JS gzipped ${(total / 1024).toFixed(1)} KiB`);

// The whole world in view: 110 NPCs + 39 orbs + the player = 150 entities.
const server = await startServer(['--npcs', '110', '--orbs', '39', '--view-radius', '5000', '--snapshot-budget', '6000']);
const browser = await launchBrowser();
try {
  // 2. Load to first frame.
  const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  await page.goto(`${server.api}/play/`);
  await page.waitForFunction(() => window.tickforge?.wasmReadyMs != null);
  const load = await page.evaluate(() => {
    const nav = performance.getEntriesByType('navigation')[0];
    return { ready: window.tickforge.wasmReadyMs, loaded: nav.loadEventEnd, dom: nav.domContentLoadedEventEnd };
  });
  await page.fill('#username', 'benchpage');
  await page.fill('#password', 'bench-password-1');
  await page.click('#register');
  await page.waitForFunction(() => window.tickforge.firstWorldFrameMs != null, null, { timeout: 20_000 });
  const firstWorld = await page.evaluate(() => window.tickforge.firstWorldFrameMs);
  console.log(`load: wasm ready ${load.ready.toFixed(0)} ms after navigation (DOM ${load.dom.toFixed(0)} ms, load event ${load.loaded.toFixed(0)} ms); register + login + handshake to the first world frame ${firstWorld.toFixed(0)} ms`);

  // 3. Frame cost at the full view, walking (the page alone with the server).
  await until('150 entities in view', async () => (await page.evaluate(() => window.tickforge.status().entities)) >= 140, 20_000);
  await page.waitForTimeout(1000);
  await page.evaluate(() => window.tickforge.resetFrameStats());
  for (let i = 0; i < seconds; i += 1) {
    await page.keyboard.down(i % 2 ? 'KeyA' : 'KeyD');
    await page.waitForTimeout(1000);
    await page.keyboard.up(i % 2 ? 'KeyA' : 'KeyD');
  }
  const frames = await page.evaluate(() => window.tickforge.frameStats());

  // 3b. The control: a fixed piece of pure arithmetic (no wasm, no canvas,
  // no allocation), timed on every animation frame in the same page while
  // the game goes on, walking the same way. Its tail is the machine's
  // (other processes and Chromium's own threads on the same two cores),
  // not the game's.
  const control = page.evaluate(async (ms) => {
    let work = 20_000;
    const spin = () => { let x = 0; for (let i = 0; i < work; i += 1) x = (x * 1.000001 + i) % 1e9; return x; };
    // Calibrate to about as long as the game's median frame.
    for (let t = 0; t < 20; t += 1) {
      const began = performance.now(); spin();
      const took = performance.now() - began;
      if (took > 0) work = Math.max(1000, Math.round(work * (0.6 / took)));
    }
    const times = [];
    await new Promise((done) => {
      const until = performance.now() + ms;
      const tick = () => {
        const began = performance.now(); spin(); times.push(performance.now() - began);
        if (performance.now() < until) requestAnimationFrame(tick); else done();
      };
      requestAnimationFrame(tick);
    });
    times.sort((a, b) => a - b);
    const at = (q) => times[Math.min(times.length - 1, Math.floor(q * times.length))];
    return { frames: times.length, p50: at(0.5), p99: at(0.99), max: times[times.length - 1] };
  }, seconds * 1000);
  for (let i = 0; i < seconds; i += 1) {
    await page.keyboard.down(i % 2 ? 'KeyA' : 'KeyD');
    await page.waitForTimeout(1000);
    await page.keyboard.up(i % 2 ? 'KeyA' : 'KeyD');
  }
  const spin = await control;

  // 4. Bytes in, standing, beside a native client standing in the same world.
  const native = nativeClient(server, 'benchnative', 'bench-password-1', seconds + 4, 'idle');
  await page.waitForTimeout(2000);
  const start = await page.evaluate(() => window.tickforge.status());
  const t0 = Date.now();
  await page.waitForTimeout(seconds * 1000);
  const secs = (Date.now() - t0) / 1000;
  const end = await page.evaluate(() => window.tickforge.status());
  console.log(`frame (update + draw) at ${end.entities} entities in view, ${frames.frames} frames: p50 ${frames.p50.toFixed(2)} ms, p99 ${frames.p99.toFixed(2)} ms, max ${frames.max.toFixed(2)} ms (update p50 ${frames.update.p50.toFixed(2)} / p99 ${frames.update.p99.toFixed(2)} ms, draw p50 ${frames.draw.p50.toFixed(2)} / p99 ${frames.draw.p99.toFixed(2)} ms)`);

  console.log(`control: fixed arithmetic of ${spin.p50.toFixed(2)} ms (p50) timed on ${spin.frames} frames in the same page meanwhile: p99 ${spin.p99.toFixed(2)} ms, max ${spin.max.toFixed(2)} ms (the machine's tail, not the game's)`);

  const datagrams = (end.datagrams_in - start.datagrams_in) / secs;
  const bytes = (end.datagram_bytes_in - start.datagram_bytes_in) / secs;
  const framing = datagrams * (bytes / datagrams < 126 ? 2 : 4);
  const summary = await native;
  console.log(`bytes in, browser (WebSocket): ${bytes.toFixed(0)} B/s of datagrams in ${datagrams.toFixed(1)} messages/s (+${framing.toFixed(0)} B/s of WebSocket framing, ${((framing / bytes) * 100).toFixed(1)} %); renet counts ${end.bytes_in_per_s.toFixed(0)} B/s`);
  const nativeBytes = summary.seconds.slice(2).map((l) => l.bytes_in_per_s).sort((a, b) => a - b);
  const nativeP50 = nativeBytes[Math.floor(nativeBytes.length / 2)];
  console.log(`bytes in, native (UDP): renet counts ${nativeP50} B/s (median of its seconds), ${summary.max_entities} entities in view; browser / native = ${(end.bytes_in_per_s / nativeP50).toFixed(3)}`);

  // The same figures as a report for scripts/plot.sh.
  const report = {
    report: 'browser',
    page_weight_gz_bytes: total,
    load_ms: { wasm_ready: load.ready, dom: load.dom, load_event: load.loaded, first_world_frame: firstWorld },
    entities: end.entities,
    frame_ms: { p50: frames.p50, p99: frames.p99, max: frames.max },
    control_ms: { p50: spin.p50, p99: spin.p99, max: spin.max },
    bytes_in_per_s: { browser: end.bytes_in_per_s, native: nativeP50 },
  };
  mkdirSync(join(repo, 'target', 'reports'), { recursive: true });
  writeFileSync(join(repo, 'target', 'reports', 'browser.json'), `${JSON.stringify(report, null, 2)}\n`);
  console.log('report: target/reports/browser.json');
} finally {
  await browser.close();
  await server.stop();
}
