// What the browser tests share: a real Tickforge server (the debug build)
// on free loopback ports with a throwaway data dir, Debian's Chromium
// through playwright-core, and the native headless client.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';
import { chromium } from 'playwright-core';

export const repo = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const artifacts = join(repo, 'web', 'test-artifacts');
const bin = (name) => join(repo, 'target', process.env.TICKFORGE_PROFILE ?? 'debug', name);

/** Starts the server; resolves with its addresses once it printed them. */
export async function startServer(extra = []) {
  const dir = mkdtempSync(join(tmpdir(), 'tickforge-web-'));
  const args = ['--data-dir', dir, '--http', '127.0.0.1:0', '--udp', '127.0.0.1:0', '--ws', '127.0.0.1:0',
    '--admin', '127.0.0.1:0', ...(extra.includes('--web-dir') ? [] : ['--web-dir', join(repo, 'web', 'dist')]), ...extra];
  const child = spawn(bin('tickforge-server'), args, {
    env: { ...process.env, RUST_LOG: 'info', TICKFORGE_ADMIN_TOKEN: 'web-test-admin-token-0123456789' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const log = [];
  child.stderr.on('data', (chunk) => { log.push(chunk.toString()); if (log.length > 4000) log.shift(); });
  const line = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the server printed no addresses: ${log.join('')}`)), 30_000);
    createInterface({ input: child.stdout }).once('line', (l) => { clearTimeout(timer); resolve(l); });
    child.once('exit', (code) => reject(new Error(`the server exited (${code}): ${log.join('')}`)));
  });
  const field = (name) => line.split(/\s+/).find((w) => w.startsWith(`${name}=`))?.slice(name.length + 1);
  return {
    api: field('api'),
    ws: field('ws'),
    admin: `http://${field('admin')}`,
    log,
    async stop() {
      child.kill('SIGTERM');
      await new Promise((resolve) => (child.exitCode !== null ? resolve() : child.once('exit', resolve)));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Headless Chromium as the machine has it. */
export function launchBrowser() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync'],
  });
}

/** Polls `check` (async) every 50 ms until it returns a value, or fails after `ms`. */
export async function until(what, check, ms = 15_000) {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** Opens /play/, registers `user`, and waits until it plays. */
export async function playInPage(browser, server, user, password) {
  const page = await browser.newPage({ viewport: { width: 1024, height: 768 } });
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  await page.goto(`${server.api}/play/`);
  await page.waitForFunction(() => window.tickforge?.wasmReadyMs != null);
  await page.fill('#username', user);
  await page.fill('#password', password);
  await page.click('#register');
  await page.waitForFunction(() => window.tickforge.status()?.welcomed && window.tickforge.status()?.own, null,
    { timeout: 15_000 });
  return { page, errors };
}

/** Runs the native headless client; resolves with its summary line. */
export function nativeClient(server, user, password, seconds, moves = 'circle') {
  const child = spawn(bin('tickforge-client'), ['--server', server.api, '--user', user, '--register', '--headless',
    '--moves', moves, '--duration', String(seconds)], {
    env: { ...process.env, TICKFORGE_PASSWORD: password, RUST_LOG: 'warn' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout.on('data', (c) => { out += c; });
  child.stderr.on('data', (c) => { err += c; });
  return new Promise((resolve, reject) => {
    child.once('exit', (code) => {
      const lines = out.split('\n').filter(Boolean).map((l) => { try { return JSON.parse(l); } catch { return null; } });
      const summary = lines.find((l) => l?.summary);
      if (code !== 0 || !summary) reject(new Error(`native client exited ${code}: ${err}\n${out}`));
      else resolve({ ...summary, seconds: lines.filter((l) => l && !l.summary) });
    });
  });
}

export function artifactPath(name) {
  mkdirSync(artifacts, { recursive: true });
  return join(artifacts, name);
}
