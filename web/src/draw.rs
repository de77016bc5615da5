//! The arena on a Canvas 2D, drawn as the native client draws it: the
//! floor and its grid, orbs, NPCs, avatars with their names (the own one
//! gold and ringed), the HUD strip, the chat, and a notice line.

use std::f64::consts::TAU;

use tickforge_client_core::interpolate::Drawn;
use tickforge_shared::protocol::{EntityKind, NetId};
use tickforge_shared::sim::{AVATAR_RADIUS, ORB_RADIUS, Vec2, WORLD_HEIGHT, WORLD_WIDTH};
use web_sys::CanvasRenderingContext2d;

/// The one font of names, HUD and chat (setting a canvas font parses CSS:
/// once a frame, not once a text).
pub const FONT: &str = "14px sans-serif";

/// Height of the HUD strip at the top, in pixels.
const HUD_HEIGHT: f64 = 28.0;
/// World units visible across the shorter side of the canvas.
const VISIBLE_SPAN: f64 = 1300.0;

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

fn disc(ctx: &CanvasRenderingContext2d, (x, y): (f64, f64), r: f64, colour: &str) {
    ctx.set_fill_style_str(colour);
    ctx.begin_path();
    let _ = ctx.arc(x, y, r, 0.0, TAU);
    ctx.fill();
}

/// Many discs of one colour as one path: one fill, not one per disc.
fn discs(ctx: &CanvasRenderingContext2d, centres: impl Iterator<Item = (f64, f64)>, r: f64, colour: &str) {
    ctx.set_fill_style_str(colour);
    ctx.begin_path();
    for (x, y) in centres {
        ctx.move_to(x + r, y);
        let _ = ctx.arc(x, y, r, 0.0, TAU);
    }
    ctx.fill();
}

/// The background, the world's floor and its grid.
pub fn arena(ctx: &CanvasRenderingContext2d, view: &View) {
    ctx.set_fill_style_str("rgb(18,20,28)");
    ctx.fill_rect(0.0, 0.0, view.width, view.height);
    let (left, top) = view.to_screen(Vec2::ZERO);
    let (w, h) = (f64::from(WORLD_WIDTH) * view.scale, f64::from(WORLD_HEIGHT) * view.scale);
    ctx.set_fill_style_str("rgb(30,34,46)");
    ctx.fill_rect(left, top, w, h);
    ctx.set_stroke_style_str("rgb(40,46,60)");
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
    ctx.set_stroke_style_str("gray");
    ctx.set_line_width(2.0);
    ctx.stroke_rect(left, top, w, h);
}

/// Orbs, NPCs, then avatars with their names; `own` is gold and ringed.
pub fn entities<'a>(
    ctx: &CanvasRenderingContext2d,
    view: &View,
    drawn: &[Drawn],
    name_of: impl Fn(NetId) -> Option<&'a str>,
    own: Option<NetId>,
) {
    let radius = |units: f32, min: f64| (f64::from(units) * view.scale).max(min);
    let of = |kind: EntityKind| drawn.iter().filter(move |e| e.kind == kind).map(|e| view.to_screen(e.pos));
    discs(ctx, of(EntityKind::Orb), radius(ORB_RADIUS, 3.0), "rgb(255,120,220)");
    discs(ctx, of(EntityKind::Npc), radius(10.0, 3.0), "rgb(120,200,140)");
    ctx.set_font(FONT);
    ctx.set_text_align("center");
    for entity in drawn.iter().filter(|e| e.kind == EntityKind::Avatar) {
        let p = view.to_screen(entity.pos);
        let mine = own == Some(entity.id);
        let r = radius(AVATAR_RADIUS, 6.0);
        if mine {
            ctx.set_stroke_style_str("white");
            ctx.set_line_width(2.0);
            ctx.begin_path();
            let _ = ctx.arc(p.0, p.1, r + 4.0, 0.0, TAU);
            ctx.stroke();
        }
        disc(ctx, p, r, if mine { "rgb(255,203,0)" } else { "rgb(90,160,255)" });
        ctx.set_fill_style_str("white");
        let _ = ctx.fill_text(name_of(entity.id).unwrap_or("?"), p.0, p.1 - r - 6.0);
    }
    ctx.set_text_align("start");
}

/// The HUD strip.
pub fn hud(ctx: &CanvasRenderingContext2d, view: &View, text: &str) {
    ctx.set_fill_style_str("rgba(0,0,0,0.8)");
    ctx.fill_rect(0.0, 0.0, view.width, HUD_HEIGHT);
    ctx.set_fill_style_str("white");
    let _ = ctx.fill_text(text, 10.0, 19.0);
}

/// Chat lines, newest at the bottom, with the line being typed below them.
pub fn chat<'a>(
    ctx: &CanvasRenderingContext2d,
    view: &View,
    lines: impl DoubleEndedIterator<Item = (&'a str, &'a str)>,
) {
    ctx.set_fill_style_str("lightgray");
    let mut y = view.height - 40.0;
    for (from, text) in lines.rev() {
        let _ = ctx.fill_text(&format!("{from}: {text}"), 12.0, y);
        y -= 18.0;
    }
}

/// A notice (moving, reconnecting, an error) above the own avatar.
pub fn notice(ctx: &CanvasRenderingContext2d, view: &View, text: &str) {
    ctx.set_font("20px sans-serif");
    ctx.set_text_align("center");
    ctx.set_fill_style_str("rgb(230,41,55)");
    let _ = ctx.fill_text(text, view.width / 2.0, HUD_HEIGHT + (view.height - HUD_HEIGHT) * 0.3);
    ctx.set_text_align("start");
    ctx.set_font(FONT);
}
