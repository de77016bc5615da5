//! The page's drawing on a Canvas 2D, as the native window draws: the
//! floor and its grid, the game's entities through the client core's
//! [`Painter`] ([`ClientGame::draw`](tickforge_client_core::game::ClientGame::draw)),
//! the HUD strip, the chat, and a notice line.
//!
//! A frame makes little work for the page where it can help it: colours,
//! names and chat lines go to the canvas as JavaScript strings made once
//! ([`Canvas`] keeps them), the HUD's only when its text changes; a style
//! is set only when it differs from the one in force; and discs of one
//! colour drawn one after another are filled as one path.

use std::collections::HashMap;
use std::f64::consts::TAU;
use std::fmt::Write;

use js_sys::JsString;
use tickforge_client_core::game::{Painter, Rgba};
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
pub const HUD_HEIGHT: f64 = 28.0;
/// World units visible across the shorter side of the canvas.
const VISIBLE_SPAN: f64 = 1300.0;
/// Texts kept as JavaScript strings, at most (names and chat lines).
const TEXTS_KEPT: usize = 256;

const BACKGROUND: Rgba = Rgba::rgb(18, 20, 28);
const FLOOR: Rgba = Rgba::rgb(30, 34, 46);
const GRID: Rgba = Rgba::rgb(40, 46, 60);
const EDGE: Rgba = Rgba::rgb(128, 128, 128);
const STRIP: Rgba = Rgba { r: 0, g: 0, b: 0, a: 204 };
const CHAT: Rgba = Rgba::rgb(211, 211, 211);
const NOTICE: Rgba = Rgba::rgb(230, 41, 55);

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

    /// The world point under canvas pixel (`x`, `y`), if it is below the HUD strip.
    pub fn to_world(&self, x: f64, y: f64) -> Option<Vec2> {
        let inside = (0.0..self.width).contains(&x) && (HUD_HEIGHT..self.height).contains(&y);
        let scale = self.scale.max(1e-6);
        inside.then(|| Vec2::new(((x - self.origin.0) / scale) as f32, ((y - self.origin.1) / scale) as f32))
    }
}

/// The styles in force on the context, so that a draw sets only what changes.
#[derive(Default)]
struct InForce {
    fill: Option<Rgba>,
    stroke: Option<Rgba>,
    line_width: Option<f32>,
}

/// One canvas and the JavaScript strings it draws with.
pub struct Canvas {
    ctx: CanvasRenderingContext2d,
    /// The same context, through [`Ctx2d`].
    js: Ctx2d,
    /// Colours as CSS strings.
    colours: HashMap<Rgba, JsString>,
    /// Names and chat lines already made into JavaScript strings.
    texts: HashMap<String, JsString>,
    /// The HUD's text, and the same as a JavaScript string.
    hud: (String, JsString),
    /// Scratch for building a text before looking it up.
    line: String,
    font: JsString,
    notice_font: JsString,
    center: JsString,
    start: JsString,
    in_force: InForce,
}

impl Canvas {
    /// A canvas drawn through `ctx`.
    pub fn new(ctx: CanvasRenderingContext2d) -> Self {
        Self {
            js: ctx.clone().unchecked_into(),
            ctx,
            colours: HashMap::new(),
            texts: HashMap::new(),
            hud: (String::new(), JsString::from("")),
            line: String::new(),
            font: FONT.into(),
            notice_font: NOTICE_FONT.into(),
            center: "center".into(),
            start: "start".into(),
            in_force: InForce::default(),
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

    fn fill(&mut self, colour: Rgba) {
        if self.in_force.fill != Some(colour) {
            let css = Self::css(&mut self.colours, colour);
            self.js.set_fill(&css);
            self.in_force.fill = Some(colour);
        }
    }

    fn stroke(&mut self, colour: Rgba, width: f32) {
        if self.in_force.stroke != Some(colour) {
            let css = Self::css(&mut self.colours, colour);
            self.js.set_stroke(&css);
            self.in_force.stroke = Some(colour);
        }
        if self.in_force.line_width != Some(width) {
            self.ctx.set_line_width(f64::from(width));
            self.in_force.line_width = Some(width);
        }
    }

    fn css(colours: &mut HashMap<Rgba, JsString>, c: Rgba) -> JsString {
        colours
            .entry(c)
            .or_insert_with(|| {
                let css = if c.a == 255 {
                    format!("rgb({},{},{})", c.r, c.g, c.b)
                } else {
                    format!("rgba({},{},{},{:.3})", c.r, c.g, c.b, f32::from(c.a) / 255.0)
                };
                JsString::from(css)
            })
            .clone()
    }

    /// The background, the floor of a world `world` units wide and high,
    /// and its grid (a line every 100 units).
    pub fn floor(&mut self, view: &View, world: Vec2) {
        // The page may have changed anything since the last frame.
        self.in_force = InForce::default();
        self.js.set_font_js(&self.font);
        self.fill(BACKGROUND);
        self.ctx.fill_rect(0.0, 0.0, view.width, view.height);
        let (left, top) = view.to_screen(Vec2::ZERO);
        let (w, h) = (f64::from(world.x) * view.scale, f64::from(world.y) * view.scale);
        self.fill(FLOOR);
        self.ctx.fill_rect(left, top, w, h);
        self.stroke(GRID, 1.0);
        self.ctx.begin_path();
        let lines = |extent: f32| 1..(extent / 100.0).ceil() as u32;
        for i in lines(world.x) {
            let x = left + f64::from(i) * 100.0 * view.scale;
            self.ctx.move_to(x, top);
            self.ctx.line_to(x, top + h);
        }
        for i in lines(world.y) {
            let y = top + f64::from(i) * 100.0 * view.scale;
            self.ctx.move_to(left, y);
            self.ctx.line_to(left + w, y);
        }
        self.ctx.stroke();
        self.stroke(EDGE, 2.0);
        self.ctx.stroke_rect(left, top, w, h);
    }

    /// A painter for a game's entities, through `view`; its drawing is
    /// done when it is dropped.
    pub fn painter<'a>(&'a mut self, view: &'a View) -> CanvasPainter<'a> {
        self.js.set_align(&self.center);
        CanvasPainter { canvas: self, view, discs: None }
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
        self.fill(STRIP);
        self.ctx.fill_rect(0.0, 0.0, view.width, HUD_HEIGHT);
        self.fill(Rgba::WHITE);
        self.js.fill_js_text(&self.hud.1, 10.0, 19.0);
    }

    /// Chat lines, newest at the bottom.
    pub fn chat<'a>(&mut self, view: &View, lines: impl DoubleEndedIterator<Item = (&'a str, &'a str)>) {
        self.fill(CHAT);
        let mut y = view.height - 40.0;
        for (from, text) in lines.rev() {
            self.line.clear();
            let _ = write!(self.line, "{from}: {text}");
            let line = Self::text(&mut self.texts, &self.line);
            self.js.fill_js_text(&line, 12.0, y);
            y -= 18.0;
        }
    }

    /// A notice (moving, reconnecting, an error) above the own player.
    pub fn notice(&mut self, view: &View, text: &str) {
        self.js.set_font_js(&self.notice_font);
        self.js.set_align(&self.center);
        self.fill(NOTICE);
        let _ = self.ctx.fill_text(text, view.width / 2.0, HUD_HEIGHT + (view.height - HUD_HEIGHT) * 0.3);
        self.js.set_align(&self.start);
        self.js.set_font_js(&self.font);
    }
}

/// A game's drawing on the canvas ([`Painter`]): discs of one colour in a
/// row share one path, filled when something else is drawn or the painter
/// is dropped.
pub struct CanvasPainter<'a> {
    canvas: &'a mut Canvas,
    view: &'a View,
    /// The colour of the path of discs being gathered, if one is.
    discs: Option<Rgba>,
}

impl CanvasPainter<'_> {
    /// Fills the discs gathered so far.
    fn flush(&mut self) {
        if self.discs.take().is_some() {
            self.canvas.ctx.fill();
        }
    }
}

impl Drop for CanvasPainter<'_> {
    fn drop(&mut self) {
        self.flush();
        self.canvas.js.set_align(&self.canvas.start);
    }
}

impl Painter for CanvasPainter<'_> {
    fn scale(&self) -> f32 {
        self.view.scale as f32
    }

    fn disc(&mut self, center: Vec2, radius_px: f32, color: Rgba) {
        if self.discs != Some(color) {
            self.flush();
            self.canvas.fill(color);
            self.canvas.ctx.begin_path();
            self.discs = Some(color);
        }
        let (x, y) = self.view.to_screen(center);
        let r = f64::from(radius_px);
        self.canvas.ctx.move_to(x + r, y);
        let _ = self.canvas.ctx.arc(x, y, r, 0.0, TAU);
    }

    fn ring(&mut self, center: Vec2, radius_px: f32, width_px: f32, color: Rgba) {
        self.flush();
        self.canvas.stroke(color, width_px);
        let (x, y) = self.view.to_screen(center);
        self.canvas.ctx.begin_path();
        let _ = self.canvas.ctx.arc(x, y, f64::from(radius_px), 0.0, TAU);
        self.canvas.ctx.stroke();
    }

    fn line(&mut self, from: Vec2, to: Vec2, width_px: f32, color: Rgba) {
        self.flush();
        self.canvas.stroke(color, width_px);
        let ((ax, ay), (bx, by)) = (self.view.to_screen(from), self.view.to_screen(to));
        self.canvas.ctx.begin_path();
        self.canvas.ctx.move_to(ax, ay);
        self.canvas.ctx.line_to(bx, by);
        self.canvas.ctx.stroke();
    }

    fn rect(&mut self, anchor: Vec2, offset_px: (f32, f32), size_px: (f32, f32), color: Rgba) {
        self.flush();
        self.canvas.fill(color);
        let (x, y) = self.view.to_screen(anchor);
        let (dx, dy) = (f64::from(offset_px.0), f64::from(offset_px.1));
        self.canvas.ctx.fill_rect(x + dx, y + dy, f64::from(size_px.0), f64::from(size_px.1));
    }

    fn label(&mut self, anchor: Vec2, above_px: f32, text: &str, color: Rgba) {
        self.flush();
        self.canvas.fill(color);
        let (x, y) = self.view.to_screen(anchor);
        let text = Canvas::text(&mut self.canvas.texts, text);
        self.canvas.js.fill_js_text(&text, x, y - f64::from(above_px));
    }
}
