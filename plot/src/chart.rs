//! The three shapes of chart the reports need, drawn as SVG: lines through
//! points, a histogram, and bars side by side.

use std::path::Path;

use plotters::coord::Shift;
use plotters::coord::ranged1d::SegmentValue;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

/// The size of every chart, pixels.
const SIZE: (u32, u32) = (820, 480);
/// The colours of successive series.
const PALETTE: [RGBColor; 5] = [
    RGBColor(31, 119, 180),
    RGBColor(214, 39, 40),
    RGBColor(44, 160, 44),
    RGBColor(148, 103, 189),
    RGBColor(255, 127, 14),
];
/// The minor grid.
const LIGHT: RGBColor = RGBColor(244, 244, 244);
/// Reference lines (budgets, targets).
const REFERENCE: RGBColor = RGBColor(110, 110, 110);

/// Drawing failed (the SVG could not be written).
#[derive(Debug, thiserror::Error)]
#[error("{path}: {message}")]
pub struct ChartError {
    path: String,
    message: String,
}

fn failed<E: std::fmt::Debug>(path: &Path) -> impl Fn(E) -> ChartError + '_ {
    move |e| ChartError { path: path.display().to_string(), message: format!("{e:?}") }
}

/// A named line through points.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// Its name in the legend.
    pub name: String,
    /// Its points, drawn in order of x.
    pub points: Vec<(f64, f64)>,
    /// Whether a line joins the points (a trend), or they stand alone
    /// (runs that differ in more than x).
    pub joined: bool,
}

/// A chart of lines, with horizontal reference lines.
#[derive(Debug, Clone, PartialEq)]
pub struct Lines {
    /// The caption.
    pub title: String,
    /// What x is.
    pub x_label: String,
    /// What y is.
    pub y_label: String,
    /// The lines.
    pub series: Vec<Series>,
    /// Horizontal lines: a name and a y.
    pub references: Vec<(String, f64)>,
}

/// A histogram of values, with vertical markers (median, p99).
#[derive(Debug, Clone, PartialEq)]
pub struct Histogram {
    /// The caption.
    pub title: String,
    /// What the values are.
    pub x_label: String,
    /// The values.
    pub values: Vec<f64>,
    /// Vertical lines: a name and an x.
    pub markers: Vec<(String, f64)>,
}

/// Groups of bars side by side: each group a category, each bar a measure.
#[derive(Debug, Clone, PartialEq)]
pub struct Bars {
    /// The caption.
    pub title: String,
    /// What the bars measure.
    pub y_label: String,
    /// The measures, in the order of each category's values.
    pub measures: Vec<String>,
    /// The categories: a name and a value per measure.
    pub categories: Vec<(String, Vec<f64>)>,
}

/// The smallest of `steps` times a power of ten that is at least `want`
/// (1 for nothing to hold).
fn round_up(want: f64, steps: &[f64]) -> f64 {
    if want <= 0.0 || !want.is_finite() {
        return 1.0;
    }
    let power = 10f64.powf(want.log10().floor());
    steps.iter().map(|m| m * power).find(|v| *v >= want).unwrap_or(10.0 * power)
}

/// The upper end of an axis that holds `max` with a tenth to spare, on a
/// round number (1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6 or 8 times a power of ten).
pub fn headroom(max: f64) -> f64 {
    round_up(max * 1.1, &[1.0, 1.2, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0, 6.0, 8.0, 10.0])
}

/// A round width (1, 2 or 5 times a power of ten) that cuts `0..max` into
/// at most about `bins` bins.
pub fn bin_width(max: f64, bins: f64) -> f64 {
    round_up(max / bins, &[1.0, 2.0, 5.0, 10.0])
}

/// An axis figure as people write it: `200`, `2.5`, `0.75`.
fn tick_label(v: &f64) -> String {
    let s = format!("{:.2}", v);
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// A white SVG canvas of the charts' size, to be written to `path`.
fn canvas(path: &Path) -> Result<DrawingArea<SVGBackend<'_>, Shift>, ChartError> {
    let root = SVGBackend::new(path, SIZE).into_drawing_area();
    root.fill(&WHITE).map_err(failed(path))?;
    Ok(root)
}

/// The layout every chart shares: its caption, margins and label areas.
fn framed<'a, 'b>(root: &'a DrawingArea<SVGBackend<'b>, Shift>, title: &str) -> ChartBuilder<'a, 'b, SVGBackend<'b>> {
    let mut builder = ChartBuilder::on(root);
    builder.caption(title, ("sans-serif", 20)).margin(18).x_label_area_size(46).y_label_area_size(64);
    builder
}

/// Draws the legend of `chart`'s labelled series at `at`.
fn legend<'a, C: CoordTranslate>(
    chart: &mut ChartContext<'a, SVGBackend<'a>, C>,
    at: SeriesLabelPosition,
) -> Result<(), DrawingAreaErrorKind<<SVGBackend<'a> as DrawingBackend>::ErrorType>> {
    chart
        .configure_series_labels()
        .position(at)
        .background_style(WHITE.mix(0.9))
        .border_style(RGBColor(200, 200, 200))
        .draw()
}

/// Draws `chart` into the SVG file `path`.
pub fn lines(path: &Path, chart: &Lines) -> Result<(), ChartError> {
    let fail = failed(path);
    let all = chart.series.iter().flat_map(|s| s.points.iter());
    let x_max = headroom(all.clone().map(|p| p.0).fold(0.0, f64::max));
    let y_top = all.map(|p| p.1).chain(chart.references.iter().map(|r| r.1)).fold(0.0, f64::max);
    let y_max = headroom(y_top);
    let root = canvas(path)?;
    let mut c = framed(&root, &chart.title).build_cartesian_2d(0.0..x_max, 0.0..y_max).map_err(&fail)?;
    c.configure_mesh()
        .x_desc(&chart.x_label)
        .y_desc(&chart.y_label)
        .x_label_formatter(&tick_label)
        .y_label_formatter(&tick_label)
        .light_line_style(LIGHT)
        .draw()
        .map_err(&fail)?;
    for (name, y) in &chart.references {
        let style = REFERENCE.stroke_width(1);
        c.draw_series(DashedLineSeries::new([(0.0, *y), (x_max, *y)], 6, 4, style))
            .map_err(&fail)?
            .label(name)
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 18, y)], style));
    }
    for (i, series) in chart.series.iter().enumerate() {
        let colour = PALETTE[i % PALETTE.len()];
        let mut points = series.points.clone();
        points.sort_by(|a, b| a.0.total_cmp(&b.0));
        if series.joined {
            c.draw_series(LineSeries::new(points.iter().copied(), colour.stroke_width(2)))
                .map_err(&fail)?
                .label(&series.name)
                .legend(move |(x, y)| PathElement::new([(x, y), (x + 18, y)], colour.stroke_width(2)));
            c.draw_series(points.iter().map(|p| Circle::new(*p, 3, colour.filled()))).map_err(&fail)?;
        } else {
            c.draw_series(points.iter().map(|p| Circle::new(*p, 4, colour.filled())))
                .map_err(&fail)?
                .label(&series.name)
                .legend(move |(x, y)| Circle::new((x + 9, y), 4, colour.filled()));
        }
    }
    legend(&mut c, SeriesLabelPosition::UpperLeft).map_err(&fail)?;
    root.present().map_err(&fail)
}

/// Draws `chart` into the SVG file `path`.
pub fn histogram(path: &Path, chart: &Histogram) -> Result<(), ChartError> {
    let fail = failed(path);
    let top = chart.values.iter().copied().fold(0.0, f64::max);
    let width = bin_width(top.max(1.0), 20.0);
    let bins = (top / width).floor() as usize + 1;
    let mut counts = vec![0u32; bins];
    for v in &chart.values {
        counts[((v.max(0.0) / width).floor() as usize).min(bins - 1)] += 1;
    }
    let x_max = headroom(bins as f64 * width);
    let y_max = headroom(f64::from(counts.iter().copied().max().unwrap_or(0)));
    let root = canvas(path)?;
    let mut c = framed(&root, &chart.title).build_cartesian_2d(0.0..x_max, 0.0..y_max).map_err(&fail)?;
    c.configure_mesh()
        .x_desc(&chart.x_label)
        .y_desc("count")
        .x_label_formatter(&tick_label)
        .y_label_formatter(&tick_label)
        .light_line_style(LIGHT)
        .draw()
        .map_err(&fail)?;
    let colour = PALETTE[0];
    c.draw_series(counts.iter().enumerate().filter(|(_, n)| **n > 0).map(|(i, n)| {
        let x0 = i as f64 * width;
        Rectangle::new([(x0, 0.0), (x0 + width * 0.92, f64::from(*n))], colour.mix(0.8).filled())
    }))
    .map_err(&fail)?
    .label(format!("{} values, bins of {width} ", chart.values.len()))
    .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 14, y + 5)], colour.mix(0.8).filled()));
    for (i, (name, x)) in chart.markers.iter().enumerate() {
        let style = PALETTE[(i + 1) % PALETTE.len()].stroke_width(2);
        c.draw_series(DashedLineSeries::new([(*x, 0.0), (*x, y_max)], 6, 4, style))
            .map_err(&fail)?
            .label(name)
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 18, y)], style));
    }
    legend(&mut c, SeriesLabelPosition::UpperRight).map_err(&fail)?;
    root.present().map_err(&fail)
}

/// Draws `chart` into the SVG file `path`: a bar per category and
/// measure, grouped by measure, coloured by category, its value above it.
pub fn bars(path: &Path, chart: &Bars) -> Result<(), ChartError> {
    let fail = failed(path);
    let slots: Vec<(String, usize, f64)> = (0..chart.measures.len())
        .flat_map(|m| chart.categories.iter().enumerate().map(move |(c, (_, values))| (m, c, values.get(m).copied())))
        .filter_map(|(m, c, v)| Some((format!("{} {}", chart.categories[c].0, chart.measures[m]), c, v?)))
        .collect();
    let top = slots.iter().map(|s| s.2).fold(0.0, f64::max);
    let y_max = headroom(top);
    let root = canvas(path)?;
    let mut c = framed(&root, &chart.title)
        .build_cartesian_2d((0u32..(slots.len() as u32).saturating_sub(1)).into_segmented(), 0.0..y_max)
        .map_err(&fail)?;
    let label = |v: &SegmentValue<u32>| match v {
        SegmentValue::CenterOf(i) => slots.get(*i as usize).map_or_else(String::new, |s| s.0.clone()),
        _ => String::new(),
    };
    c.configure_mesh()
        .disable_x_mesh()
        .x_labels(slots.len())
        .x_label_formatter(&label)
        .y_desc(&chart.y_label)
        .y_label_formatter(&tick_label)
        .light_line_style(LIGHT)
        .draw()
        .map_err(&fail)?;
    for (category, (name, _)) in chart.categories.iter().enumerate() {
        let colour = PALETTE[category % PALETTE.len()];
        let mine = slots.iter().enumerate().filter(|(_, s)| s.1 == category);
        c.draw_series(mine.clone().map(|(i, s)| {
            let i = i as u32;
            let mut bar =
                Rectangle::new([(SegmentValue::Exact(i), 0.0), (SegmentValue::Exact(i + 1), s.2)], colour.filled());
            bar.set_margin(0, 0, 10, 10);
            bar
        }))
        .map_err(&fail)?
        .label(name)
        .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 14, y + 5)], colour.filled()));
        c.draw_series(mine.map(|(i, s)| {
            let style = TextStyle::from(("sans-serif", 13).into_font()).pos(Pos::new(HPos::Center, VPos::Bottom));
            Text::new(format!("{:.2}", s.2), (SegmentValue::CenterOf(i as u32), s.2 + y_max * 0.01), style)
        }))
        .map_err(&fail)?;
    }
    legend(&mut c, SeriesLabelPosition::UpperLeft).map_err(&fail)?;
    root.present().map_err(&fail)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn axes_end_on_round_numbers_with_room() {
        assert_eq!(headroom(17.2), 20.0);
        assert_eq!(headroom(33.3), 40.0);
        assert_eq!(headroom(95.0), 120.0);
        assert_eq!(headroom(1000.0), 1200.0);
        assert_eq!(headroom(0.0), 1.0);
        assert_eq!(headroom(f64::NAN), 1.0);
        assert_eq!(bin_width(400.0, 20.0), 20.0);
        assert_eq!(bin_width(130.0, 20.0), 10.0);
        assert_eq!(tick_label(&200.0), "200");
        assert_eq!(tick_label(&2.5), "2.5");
        assert_eq!(tick_label(&0.0), "0");
    }
}
