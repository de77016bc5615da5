// The page's script: logs in over fetch (same origin as the auth API),
// starts the wasm game with the login answer, feeds it keys, the pointer
// and chat, and calls it on every animation frame. When a lost session
// wants to log in again, it asks here (resume token first, then the password).
import init, { Game } from './tickforge_web.js';

const canvas = document.getElementById('arena');
const form = document.getElementById('login');
const message = document.getElementById('message');
const chat = document.getElementById('chat');

let game = null;
let credentials = null;
let comingBack = false;
// The last frames' costs (whole, update, draw) in ms, in rings that are
// written in place (a frame makes no garbage here).
const KEPT = 2000;
const rings = { cost: new Float64Array(KEPT), update: new Float64Array(KEPT), draw: new Float64Array(KEPT) };
let frames = 0;

// What tests (and the curious, from the console) can read.
const probe = {
  wasmReadyMs: null,
  loginClickedMs: null,
  firstWorldFrameMs: null,
  ended: null,
  status: () => (game ? JSON.parse(game.status()) : null),
  // Frame cost (update + draw) in ms over the last frames.
  frameStats: () => {
    const stats = (ring) => {
      const sorted = ring.slice(0, Math.min(frames, KEPT)).sort();
      const at = (q) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? null;
      return { frames: sorted.length, p50: at(0.5), p99: at(0.99), max: sorted[sorted.length - 1] ?? null };
    };
    return { ...stats(rings.cost), update: stats(rings.update), draw: stats(rings.draw) };
  },
  resetFrameStats: () => { frames = 0; },
};
window.tickforge = probe;

function fit() {
  canvas.width = canvas.clientWidth;
  canvas.height = canvas.clientHeight;
}
window.addEventListener('resize', fit);
fit();

async function post(path, body) {
  const response = await fetch(path, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return { status: response.status, text: await response.text(), retryAfter: response.headers.get('retry-after') };
}

function errorText(answer) {
  try {
    return JSON.parse(answer.text).error;
  } catch {
    return answer.text || `HTTP ${answer.status}`;
  }
}

async function logIn(register) {
  const username = document.getElementById('username').value.trim();
  const password = document.getElementById('password').value;
  if (register) {
    const made = await post('/v1/register', { username, password });
    if (made.status === 409) throw new Error('that name is taken');
    if (made.status !== 201) throw new Error(errorText(made));
  }
  const answer = await post('/v1/login', { username, password });
  if (answer.status === 401) throw new Error('wrong name or password');
  if (answer.status === 503) throw new Error(`the server is busy: try again in ${answer.retryAfter || 1} s`);
  if (answer.status !== 200) throw new Error(errorText(answer));
  credentials = { username, password };
  game = new Game(canvas, answer.text, performance.now());
  form.style.display = 'none';
  requestAnimationFrame(frame);
}

function ended(error) {
  probe.ended = String(error?.message ?? error);
  message.textContent = probe.ended;
  form.style.display = 'block';
  if (game) {
    game.leave();
    game.free();
  }
  game = null;
}

function frame() {
  if (!game) return;
  const began = performance.now();
  try {
    game.frame(began);
  } catch (error) {
    ended(error);
    return;
  }
  const slot = frames % KEPT;
  rings.cost[slot] = performance.now() - began;
  rings.update[slot] = game.update_ms();
  rings.draw[slot] = game.draw_ms();
  frames += 1;
  if (probe.firstWorldFrameMs === null && game.playing()) {
    probe.firstWorldFrameMs = performance.now() - probe.loginClickedMs;
  }
  const wanted = game.login_wanted();
  if (wanted) comeBack(JSON.parse(wanted));
  requestAnimationFrame(frame);
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// Logs in again for `session` (the game that asked); a game that ended
// meanwhile is left alone. A busy server's Retry-After is waited out.
async function comeBack(wanted) {
  if (comingBack) return;
  comingBack = true;
  const session = game;
  try {
    let answer = null;
    if (wanted.resume_token) {
      answer = await post('/v1/resume', wanted);
      if (answer.status === 401) answer = null;
    }
    if (!answer && session === game) answer = await post('/v1/login', credentials);
    if (session !== game) return;
    if (answer.status === 200) {
      session.logged_in(answer.text, performance.now());
    } else if (answer.status === 503 || answer.status >= 500) {
      await sleep(Math.min(Number(answer.retryAfter) || 1, 30) * 1000);
      if (session === game) session.login_failed(errorText(answer), performance.now());
    } else {
      ended(new Error(errorText(answer)));
    }
  } catch (error) {
    if (session === game && game) {
      try {
        session.login_failed(String(error), performance.now());
      } catch (final) {
        ended(final);
      }
    }
  } finally {
    comingBack = false;
  }
}

function submit(register) {
  message.textContent = '';
  probe.loginClickedMs = performance.now();
  logIn(register).catch((error) => { message.textContent = error.message; });
}
form.addEventListener('submit', (event) => { event.preventDefault(); submit(false); });
document.getElementById('register').addEventListener('click', () => {
  if (form.reportValidity()) submit(true);
});

window.addEventListener('keydown', (event) => {
  if (!game || document.activeElement === chat) return;
  if (event.code === 'Enter') {
    chat.style.display = 'block';
    chat.focus();
    game.release_keys();
    event.preventDefault();
  } else if (game.key(event.code, true)) {
    event.preventDefault();
  }
});
window.addEventListener('keyup', (event) => {
  if (game && game.key(event.code, false)) event.preventDefault();
});
window.addEventListener('blur', () => game?.release_keys());
// The pointer in canvas pixels (the canvas is sized to its box): where a
// game that aims points; the main button fires.
canvas.addEventListener('mousemove', (event) => game?.pointer(event.offsetX, event.offsetY));
canvas.addEventListener('mouseleave', () => game?.pointer_left());
canvas.addEventListener('mousedown', (event) => { if (event.button === 0) game?.button(true); });
window.addEventListener('mouseup', (event) => { if (event.button === 0) game?.button(false); });
chat.addEventListener('keydown', (event) => {
  if (event.code === 'Enter' || event.code === 'Escape') {
    if (event.code === 'Enter' && game) game.chat(chat.value);
    chat.value = '';
    chat.style.display = 'none';
    chat.blur();
    event.preventDefault();
    // Not again to the page's own Enter, which would open the line anew.
    event.stopPropagation();
  }
});
window.addEventListener('pagehide', () => game?.leave());

await init();
probe.wasmReadyMs = performance.now();
