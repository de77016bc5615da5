// The page plays the game its login answer names: two pages on a skirmish
// server, one steers towards the other, aims with the mouse and fires with
// its button; the other sees its health drop in its HUD, and fires with
// Space. A screenshot is left in web/test-artifacts/.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, launchBrowser, playInPage, until, artifactPath } from './harness.mjs';

let server;
let browser;

before(async () => {
  server = await startServer(['--game', 'skirmish']);
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

const status = (page) => page.evaluate(() => window.tickforge.status());

/** The canvas pixel `reach` pixels from the own ship (drawn at the canvas's
 * centre below the HUD strip) towards world point `to`. */
function towards(s, to, reach, width, height) {
  const [dx, dy] = [to[0] - s.own[0], to[1] - s.own[1]];
  const len = Math.hypot(dx, dy) || 1;
  return [width / 2 + (dx / len) * reach, 28 + (height - 28) / 2 + (dy / len) * reach];
}

test('a skirmish in the page: ships aim, fire and hit', async () => {
  const { page: shooter, errors: shooterErrors } = await playInPage(browser, server, 'gunner', 'gunner-password-1');
  const { page: target, errors: targetErrors } = await playInPage(browser, server, 'sitter', 'sitter-password-1');
  const first = await status(shooter);
  assert.equal(first.game, 'skirmish', 'the page plays the game the login named');
  assert.match(first.hud, /^health 100\b/, `the skirmish HUD (${first.hud})`);

  // Close in: the shooter steers towards the target until it is near.
  const where = async () => (await status(target)).own;
  for (let i = 0; i < 20; i += 1) {
    const [s, to] = [await status(shooter), await where()];
    const [dx, dy] = [to[0] - s.own[0], to[1] - s.own[1]];
    if (Math.hypot(dx, dy) < 500) break;
    const keys = [...(dx > 100 ? ['KeyD'] : dx < -100 ? ['KeyA'] : []), ...(dy > 100 ? ['KeyS'] : dy < -100 ? ['KeyW'] : [])];
    for (const key of keys) await shooter.keyboard.down(key);
    await shooter.waitForTimeout(300);
    for (const key of keys) await shooter.keyboard.up(key);
  }
  await shooter.waitForTimeout(300);

  // Aim with the mouse and hold its button until the target is hit.
  const hit = await until('the target hit', async () => {
    const [s, to] = [await status(shooter), await where()];
    const [x, y] = towards(s, to, 200, 1024, 768);
    await shooter.mouse.move(x, y);
    await shooter.mouse.down();
    const seen = await status(target);
    return seen.hud && !/^health 100\b/.test(seen.hud) ? seen : null;
  }, 20_000);
  await shooter.mouse.up();
  assert.match(hit.hud, /^health (75|50|25|0)\b/, `a shot took health off (${hit.hud})`);
  await shooter.screenshot({ path: artifactPath('skirmish-shooter.png') });
  await target.screenshot({ path: artifactPath('skirmish-target.png') });

  // Space fires too: shots appear beside the two ships.
  await target.keyboard.down('Space');
  const shots = await until('shots from Space', async () => {
    const seen = await status(target);
    return seen.entities > 2 ? seen.entities : null;
  });
  await target.keyboard.up('Space');
  assert.ok(shots > 2, `shots in flight (${shots} entities)`);
  assert.deepEqual(shooterErrors, [], 'no errors in the shooter page');
  assert.deepEqual(targetErrors, [], 'no errors in the target page');
});
