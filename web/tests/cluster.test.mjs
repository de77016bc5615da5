// The page in a cluster (scripts/cluster.sh: PostgreSQL, nginx, an auth
// node, app servers): served by the gateway, its WebSocket upgraded through
// nginx to the chosen app server; a blue-green switch moves it to the new
// server without a login, and a killed server is survived by resuming on
// another.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdtempSync, chmodSync, rmSync, readFileSync, writeFileSync, mkdirSync, appendFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { repo, launchBrowser, until, artifactPath } from './harness.mjs';

const run = promisify(execFile);
let dir;
let browser;
let env;

const script = (name, ...args) => run(join(repo, 'scripts', name), args, { env, cwd: repo, timeout: 120_000 });

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'tickforge-web-cluster-'));
  chmodSync(dir, 0o755); // PostgreSQL runs as the postgres user
  env = { ...process.env, TICKFORGE_CLUSTER_DIR: dir, TICKFORGE_BIN_DIR: join(repo, 'target', process.env.TICKFORGE_PROFILE ?? 'debug') };
  await script('cluster.sh', 'up', '--auth', '1', '--app', '1', '--', '--npcs', '10');
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  if (dir) {
    await script('cluster.sh', 'down').catch(() => {});
    rmSync(dir, { recursive: true, force: true });
  }
});

test('through the gateway, the page survives a blue-green switch and a killed server', async () => {
  const gateway = readFileSync(join(dir, 'gateway'), 'utf8').trim();
  const page = await browser.newPage({ viewport: { width: 1024, height: 768 } });
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  await page.goto(`${gateway}/play/`);
  await page.waitForFunction(() => window.tickforge?.wasmReadyMs != null);
  await page.fill('#username', 'clusterweb');
  await page.fill('#password', 'cluster-password-1');
  await page.click('#register');
  await page.waitForFunction(() => window.tickforge.status()?.welcomed && window.tickforge.status()?.own, null,
    { timeout: 15_000 });
  const status = () => page.evaluate(() => window.tickforge.status());
  const first = await status();
  const blueUdp = readFileSync(join(dir, 'ports', 'app-1-udp'), 'utf8').trim();
  assert.equal(first.server, `127.0.0.1:${blueUdp}`, 'playing on app-1');
  await page.keyboard.down('KeyD');

  // Blue-green: a green server comes up, the page is moved to it.
  await script('deploy.sh', 'green');
  const moved = await until('the move to green', async () => {
    const s = await status();
    return s.transfers === 1 && s.welcomed && s.own && !s.moving ? s : null;
  }, 20_000);
  assert.notEqual(moved.server, first.server, 'on another server now');
  assert.equal(moved.reconnects, 0, 'moved, not logged in again');
  assert.ok(moved.chat.some(([from, text]) => from === 'server' && /moving to app-/.test(text)));
  await page.screenshot({ path: artifactPath('cluster-after-switch.png') });

  // A second green server beside it; the one the page plays on dies.
  const spare = 'app-9';
  mkdirSync(join(dir, spare), { recursive: true });
  writeFileSync(join(dir, spare, 'flags'), '--colour green --npcs 10\n');
  appendFileSync(join(dir, 'app-nodes'), `${spare}\n`);
  await script('cluster.sh', 'start', spare);
  const greenNode = readFileSync(join(dir, 'app-nodes'), 'utf8').split('\n').filter(Boolean)
    .find((n) => n !== spare && readFileSync(join(dir, 'ports', `${n}-udp`), 'utf8').trim() === moved.server.split(':')[1]);
  assert.ok(greenNode, `the node behind ${moved.server}`);
  await script('cluster.sh', 'kill', greenNode);
  const back = await until('the way back', async () => {
    const s = await status();
    return s.reconnects === 1 && s.welcomed && s.own ? s : null;
  }, 40_000);
  const spareUdp = readFileSync(join(dir, 'ports', `${spare}-udp`), 'utf8').trim();
  assert.equal(back.server, `127.0.0.1:${spareUdp}`, 'resumed on the spare server');
  await page.keyboard.up('KeyD');
  const [x0] = back.own;
  await page.keyboard.down('KeyS');
  await page.waitForTimeout(600);
  await page.keyboard.up('KeyS');
  const after = await status();
  assert.ok(after.own[1] - back.own[1] > 30 || after.own[0] !== x0, 'and plays on there');
  assert.equal(after.error, null);
  await page.screenshot({ path: artifactPath('cluster-after-failover.png') });
  assert.deepEqual(errors, []);
});
