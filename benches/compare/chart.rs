//! Draws the ringkv ÷ redis ratios as a hand-written SVG: per ringkv configuration and case, one
//! bar for throughput and one for requests per CPU-second, with a line at 1.0 (parity with redis).
//! Knows nothing of how the figures were taken.

use std::fmt::Write as _;

use crate::rounds::Throughput;

const WIDTH: f64 = 900.0;
const PLOT_LEFT: f64 = 170.0;
const PLOT_WIDTH: f64 = 620.0;
const TOP: f64 = 84.0;
const GROUP_HEADER: f64 = 26.0;
const ROW: f64 = 30.0;
const BAR: f64 = 11.0;
const AXIS: f64 = 36.0;
const THROUGHPUT_COLOUR: &str = "#4c78a8";
const CPU_COLOUR: &str = "#f58518";

/// One pair of bars.
struct Row {
    label: String,
    throughput: Option<f64>,
    cpu_efficiency: Option<f64>,
}

/// The SVG document for `throughput`, titled with the date and commit.
pub fn render(throughput: &Throughput, title: &str) -> String {
    let groups = groups(throughput);
    let rows: usize = groups.iter().map(|(_, rows)| rows.len()).sum();
    let height = TOP + groups.len() as f64 * GROUP_HEADER + rows as f64 * ROW + AXIS;
    let scale = Scale::fitting(groups.iter().flat_map(|(_, rows)| rows));
    let mut svg = header(height, title, throughput.rounds);
    scale.grid(&mut svg, height);
    let mut y = TOP;
    for (label, rows) in &groups {
        let _ = writeln!(
            svg,
            r#"<text x="8" y="{:.1}" font-weight="bold">{}</text>"#,
            y + 17.0,
            escape(label)
        );
        y += GROUP_HEADER;
        for row in rows {
            draw_row(&mut svg, &scale, row, y);
            y += ROW;
        }
    }
    svg.push_str("</svg>\n");
    svg
}

/// Rows grouped by ringkv configuration, in table order.
fn groups(throughput: &Throughput) -> Vec<(String, Vec<Row>)> {
    (0..throughput.redis())
        .map(|server| {
            let rows = throughput
                .cases
                .iter()
                .enumerate()
                .map(|(case_index, case)| {
                    let ratios = throughput.ratios(server, case_index);
                    Row {
                        label: format!("{} P={}", case.label(), case.pipeline),
                        throughput: ratios.throughput,
                        cpu_efficiency: ratios.cpu_efficiency,
                    }
                })
                .collect();
            (
                format!("{} ÷ redis-server", throughput.servers[server].label),
                rows,
            )
        })
        .collect()
}

fn header(height: f64, title: &str, rounds: usize) -> String {
    let mut svg = String::new();
    let _ = write!(
        svg,
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height:.0}" viewBox="0 0 {WIDTH} {height:.0}" font-family="sans-serif" font-size="12">
<rect width="100%" height="100%" fill="#ffffff"/>
<text x="8" y="22" font-size="16" font-weight="bold">{}</text>
<text x="8" y="40" fill="#555555">ratio of medians over {rounds} counted round(s); right of the 1.0 line ringkv is ahead of redis-server</text>
<rect x="8" y="52" width="12" height="12" fill="{THROUGHPUT_COLOUR}"/>
<text x="25" y="62">throughput (requests/s)</text>
<rect x="190" y="52" width="12" height="12" fill="{CPU_COLOUR}"/>
<text x="207" y="62">CPU efficiency (requests per server CPU-second)</text>
"##,
        escape(title)
    );
    svg
}

fn draw_row(svg: &mut String, scale: &Scale, row: &Row, top: f64) {
    let _ = writeln!(
        svg,
        r#"<text x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"#,
        PLOT_LEFT - 8.0,
        top + BAR + 4.0,
        escape(&row.label)
    );
    let bars = [
        (row.throughput, THROUGHPUT_COLOUR, top + 3.0),
        (row.cpu_efficiency, CPU_COLOUR, top + 4.0 + BAR),
    ];
    for (value, colour, y) in bars {
        draw_bar(svg, scale, value, colour, y);
    }
}

fn draw_bar(svg: &mut String, scale: &Scale, value: Option<f64>, colour: &str, y: f64) {
    let Some(value) = value else {
        let _ = writeln!(
            svg,
            r##"<text x="{:.1}" y="{:.1}" font-size="10" fill="#999999">n/a</text>"##,
            PLOT_LEFT + 4.0,
            y + BAR - 2.0
        );
        return;
    };
    let end = scale.x(value);
    let _ = writeln!(
        svg,
        r#"<rect x="{PLOT_LEFT}" y="{y:.1}" width="{:.1}" height="{BAR}" fill="{colour}"/>"#,
        end - PLOT_LEFT
    );
    let _ = writeln!(
        svg,
        r##"<text x="{:.1}" y="{:.1}" font-size="10" stroke="#ffffff" stroke-width="3" paint-order="stroke">{value:.2}</text>"##,
        end + 4.0,
        y + BAR - 2.0
    );
}

/// Maps a ratio to an x position: 0 at the plot's left edge, `max` at its right.
struct Scale {
    max: f64,
    step: f64,
}

impl Scale {
    /// At least 0 .. 1.5 so the parity line never sits at the edge; rounded up to a half.
    fn fitting<'a>(rows: impl Iterator<Item = &'a Row>) -> Scale {
        let largest = rows
            .flat_map(|row| [row.throughput, row.cpu_efficiency])
            .flatten()
            .fold(1.5_f64, f64::max);
        let max = (largest * 1.05 / 0.5).ceil() * 0.5;
        let step = if max > 4.0 { 1.0 } else { 0.5 };
        Scale { max, step }
    }

    fn x(&self, value: f64) -> f64 {
        PLOT_LEFT + value.clamp(0.0, self.max) / self.max * PLOT_WIDTH
    }

    /// Vertical grid lines with their labels along the bottom, and the parity line at 1.0.
    fn grid(&self, svg: &mut String, height: f64) {
        let bottom = height - AXIS + 4.0;
        let ticks = (self.max / self.step).round() as usize;
        for tick in 0..=ticks {
            let value = tick as f64 * self.step;
            let x = self.x(value);
            let _ = write!(
                svg,
                r##"<line x1="{x:.1}" y1="{TOP}" x2="{x:.1}" y2="{bottom:.1}" stroke="#e3e3e3"/>
<text x="{x:.1}" y="{:.1}" text-anchor="middle" fill="#555555">{value:.1}</text>
"##,
                bottom + 14.0
            );
        }
        let parity = self.x(1.0);
        let _ = writeln!(
            svg,
            r##"<line x1="{parity:.1}" y1="{:.1}" x2="{parity:.1}" y2="{bottom:.1}" stroke="#c0392b" stroke-width="2"/>"##,
            TOP - 6.0
        );
        let _ = writeln!(
            svg,
            r##"<text x="{:.1}" y="{:.1}" fill="#c0392b">1.0 = redis-server</text>"##,
            parity + 4.0,
            TOP - 8.0
        );
    }
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}
