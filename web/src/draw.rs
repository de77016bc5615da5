//! The arena on a Canvas 2D, drawn as the native client draws it: the
//! floor and its grid, orbs, NPCs, avatars with their names (the own one
//! gold and ringed), the HUD strip, the chat, and a notice line.
//!
//! A frame makes no garbage for the page's collector where it can help
//! it: colours, names and chat lines go to the canvas as JavaScript strings
//! made once ([`Painter`] keeps them), the HUD's only when its text changes.

use std::collections::HashMap;
use std::f64::consts::TAU;
use std::fmt::Write;

use js_sys::JsString;
use tickforge_arena::sim::{AVATAR_RADIUS, ORB_RADIUS, WORLD_HEIGHT, WORLD_WIDTH};
use tickforge_client_core::interpolate::Drawn;
use tickforge_shared::protocol::{EntityKind, NetId};
use tickforge_shared::sim::Vec2;
use wasm_bindgen::prelude::*;
use web_sys::CanvasRenderingContext2d;

#[wasm_bindgen]
extern "C" {
    /// The 2D context again, for the setters and `fillText` that take a
    /// string already in JavaScript (web-sys's take `&str` and make a new one).
    #[wasm_bindgen(js_name = CanvasRenderingContext2D)]
    type Ctx2d;
    /// `fillStyle = style`, from a string already in JavaScript.
    #[wasm_bindgen(method, setter = fillStyle)]
    fn set_fill(this: &Ctx2d, style: &JsString);
    /// `strokeStyle = style`, from a string already in JavaScript.
    #[wasm_bindgen(method, setter = strokeStyle)]
    fn set_stroke(this: &Ctx2d, style: &JsString);
    /// `font = font`, from a string already in JavaScript.
    #[wasm_bindgen(method, setter = font)]
    fn set_font_js(this: &Ctx2d, font: &JsString);
    /// `textAlign = align`, from a string already in JavaScript.
    #[wasm_bindgen(method, setter = textAlign)]
    fn set_align(this: &Ctx2d, align: &JsString);
    /// `fillText(text, x, y)`, from a string already in JavaScript.
    #[wasm_bindgen(method, js_name = fillText)]
    fn fill_js_text(this: &Ctx2d, text: &JsString, x: f64, y: f64);
}

/// The one font of names, HUD and chat (setting a canvas font parses CSS:
/// once a frame, not once a text).
pub const FONT: &str = "14px sans-serif";
/// The notice's font.
const NOTICE_FONT: &str = "20px sans-serif";

/// Height of the HUD strip at the top, in pixels.
const HUD_HEIGHT: f64 = 28.0;
/// World units visible across the shorter side of the canvas.
const VISIBLE_SPAN: f64 = 1300.0;
/// Texts kept as JavaScript strings, at most (names and chat lines).
const TEXTS_KEPT: usize = 256;

/// World to canvas pixels: the camera follows `center`.
pub struct View {
    scale: f64,
    origin: (f64, f64),
    width: f64,
    height: f64,
}

impl View {
    /// A camera on `center` for a canvas of `width` × `height` pixels.
    pub fn follow(center: Vec2, width: f64, height: f64) -> Self {
        let avail = width.min(height - HUD_HEIGHT).max(1.0);
        let scale = avail / VISIBLE_SPAN;
        let screen_center = (width / 2.0, HUD_HEIGHT + (height - HUD_HEIGHT) / 2.0);
        let origin = (screen_center.0 - f64::from(center.x) * scale, screen_center.1 - f64::from(center.y) * scale);
        Self { scale, origin, width, height }
    }

    fn to_screen(&self, p: Vec2) -> (f64, f64) {
        (self.origin.0 + f64::from(p.x) * self.scale, self.origin.1 + f64::from(p.y) * self.scale)
    }
}

/// The colours of the arena, as JavaScript strings.
struct Palette {
    background: JsString,
    floor: JsString,
    grid: JsString,
    edge: JsString,
    orb: JsString,
    npc: JsString,
    own: JsString,
    other: JsString,
    white: JsString,
    strip: JsString,
    chat: JsString,
    notice: JsString,
    font: JsString,
    notice_font: JsString,
    center: JsString,
    start: JsString,
}

impl Palette {
    fn new() -> Self {
        Self {
            background: "rgb(18,20,28)".into(),
            floor: "rgb(30,34,46)".into(),
            grid: "rgb(40,46,60)".into(),
            edge: "gray".into(),
            orb: "rgb(255,120,220)".into(),
            npc: "rgb(120,200,140)".into(),
            own: "rgb(255,203,0)".into(),
            other: "rgb(90,160,255)".into(),
            white: "white".into(),
            strip: "rgba(0,0,0,0.8)".into(),
            chat: "lightgray".into(),
            notice: "rgb(230,41,55)".into(),
            font: FONT.into(),
            notice_font: NOTICE_FONT.into(),
            center: "center".into(),
            start: "start".into(),
        }
    }
}

/// Draws on one canvas, keeping the JavaScript strings it draws with.
pub struct Painter {
    ctx: CanvasRenderingContext2d,
    /// The same context, through [`Ctx2d`].
    js: Ctx2d,
    palette: Palette,
    /// Names and chat lines already made into JavaScript strings.
    texts: HashMap<String, JsString>,
    /// The HUD's text, and the same as a JavaScript string.
    hud: (String, JsString),
    /// Scratch for building a text before looking it up.
    line: String,
}

impl Painter {
    /// A painter on `ctx`.
    pub fn new(ctx: CanvasRenderingContext2d) -> Self {
        Self {
            js: ctx.clone().unchecked_into(),
            ctx,
            palette: Palette::new(),
            texts: HashMap::new(),
            hud: (String::new(), JsString::from("")),
            line: String::new(),
        }
    }

    /// `text` as a JavaScript string, made once while it keeps being drawn.
    fn text(texts: &mut HashMap<String, JsString>, text: &str) -> JsString {
        if let Some(js) = texts.get(text) {
            return js.clone();
        }
        if texts.len() >= TEXTS_KEPT {
            texts.clear();
        }
        let js = JsString::from(text);
        texts.insert(text.to_owned(), js.clone());
        js
    }

    /// The background, the world's floor and its grid.
    pub fn arena(&self, view: &View) {
        let (ctx, js, palette) = (&self.ctx, &self.js, &self.palette);
        js.set_font_js(&palette.font);
        js.set_fill(&palette.background);
        ctx.fill_rect(0.0, 0.0, view.width, view.height);
        let (left, top) = view.to_screen(Vec2::ZERO);
        let (w, h) = (f64::from(WORLD_WIDTH) * view.scale, f64::from(WORLD_HEIGHT) * view.scale);
        js.set_fill(&palette.floor);
        ctx.fill_rect(left, top, w, h);
        js.set_stroke(&palette.grid);
        ctx.set_line_width(1.0);
        ctx.begin_path();
        for i in 1..20 {
            let step = f64::from(i) * 100.0 * view.scale;
            ctx.move_to(left + step, top);
            ctx.line_to(left + step, top + h);
            ctx.move_to(left, top + step);
            ctx.line_to(left + w, top + step);
        }
        ctx.stroke();
        js.set_stroke(&palette.edge);
        ctx.set_line_width(2.0);
        ctx.stroke_rect(left, top, w, h);
    }

    /// Many discs of one colour as one path: one fill, not one per disc.
    fn discs(&self, centres: impl Iterator<Item = (f64, f64)>, r: f64, colour: &JsString) {
        let (ctx, js) = (&self.ctx, &self.js);
        js.set_fill(colour);
        ctx.begin_path();
        for (x, y) in centres {
            ctx.move_to(x + r, y);
            let _ = ctx.arc(x, y, r, 0.0, TAU);
        }
        ctx.fill();
    }

    /// Orbs, NPCs, then avatars with their names; `own` is gold and ringed.
    pub fn entities<'a>(
        &mut self,
        view: &View,
        drawn: &[Drawn],
        name_of: impl Fn(NetId) -> Option<&'a str>,
        own: Option<NetId>,
    ) {
        let radius = |units: f32, min: f64| (f64::from(units) * view.scale).max(min);
        let of = |kind: EntityKind| drawn.iter().filter(move |e| e.kind == kind).map(|e| view.to_screen(e.pos));
        self.discs(of(tickforge_arena::ORB), radius(ORB_RADIUS, 3.0), &self.palette.orb);
        self.discs(of(tickforge_arena::NPC), radius(10.0, 3.0), &self.palette.npc);
        let r = radius(AVATAR_RADIUS, 6.0);
        let others = drawn.iter().filter(|e| e.kind == tickforge_arena::AVATAR && own != Some(e.id));
        self.discs(others.map(|e| view.to_screen(e.pos)), r, &self.palette.other);
        if let Some(mine) = drawn.iter().find(|e| e.kind == tickforge_arena::AVATAR && own == Some(e.id)) {
            let (x, y) = view.to_screen(mine.pos);
            self.js.set_stroke(&self.palette.white);
            self.ctx.set_line_width(2.0);
            self.ctx.begin_path();
            let _ = self.ctx.arc(x, y, r + 4.0, 0.0, TAU);
            self.ctx.stroke();
            self.discs(std::iter::once((x, y)), r, &self.palette.own);
        }
        self.js.set_align(&self.palette.center);
        self.js.set_fill(&self.palette.white);
        for entity in drawn.iter().filter(|e| e.kind == tickforge_arena::AVATAR) {
            let (x, y) = view.to_screen(entity.pos);
            let name = Self::text(&mut self.texts, name_of(entity.id).unwrap_or("?"));
            self.js.fill_js_text(&name, x, y - r - 6.0);
        }
        self.js.set_align(&self.palette.start);
    }

    /// The HUD strip, with `write` putting its text into the buffer given
    /// (made a JavaScript string only when it differs from the last one).
    pub fn hud(&mut self, view: &View, write: impl FnOnce(&mut String) -> std::fmt::Result) {
        self.line.clear();
        let _ = write(&mut self.line);
        if self.line != self.hud.0 {
            std::mem::swap(&mut self.hud.0, &mut self.line);
            self.hud.1 = JsString::from(self.hud.0.as_str());
        }
        self.js.set_fill(&self.palette.strip);
        self.ctx.fill_rect(0.0, 0.0, view.width, HUD_HEIGHT);
        self.js.set_fill(&self.palette.white);
        self.js.fill_js_text(&self.hud.1, 10.0, 19.0);
    }

    /// Chat lines, newest at the bottom, with the line being typed below them.
    pub fn chat<'a>(&mut self, view: &View, lines: impl DoubleEndedIterator<Item = (&'a str, &'a str)>) {
        self.js.set_fill(&self.palette.chat);
        let mut y = view.height - 40.0;
        for (from, text) in lines.rev() {
            self.line.clear();
            let _ = write!(self.line, "{from}: {text}");
            let line = Self::text(&mut self.texts, &self.line);
            self.js.fill_js_text(&line, 12.0, y);
            y -= 18.0;
        }
    }

    /// A notice (moving, reconnecting, an error) above the own avatar.
    pub fn notice(&self, view: &View, text: &str) {
        let (ctx, js, palette) = (&self.ctx, &self.js, &self.palette);
        js.set_font_js(&palette.notice_font);
        js.set_align(&palette.center);
        js.set_fill(&palette.notice);
        let _ = ctx.fill_text(text, view.width / 2.0, HUD_HEIGHT + (view.height - HUD_HEIGHT) * 0.3);
        js.set_align(&palette.start);
        js.set_font_js(&palette.font);
    }
}
