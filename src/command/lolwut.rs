//! LOLWUT [VERSION v] [args]: Redis's computer art, drawn as Redis draws it. Version 5 is
//! Georg Nees's "Schotter" in Braille characters, version 6 a skyline in terminal colours;
//! any other version prints only the server's version. The arithmetic follows Redis's C
//! (single-precision floats where it uses them) so that the deterministic parts of a drawing
//! (Schotter's first two rows, a one-row skyline) come out byte for byte as redis-server's;
//! the rest is random there too.

use std::cell::Cell;

use bytes::Bytes;

use super::connection::REDIS_VERSION;
use super::table::{flags, row, CommandSpec, NOKEY};
use super::{Args, CmdResult, Kind, Session};
use crate::protocol::Reply;

#[rustfmt::skip]
pub static COMMANDS: &[CommandSpec] = &[
    row("lolwut", -1, flags!(READONLY | FAST), NOKEY, Kind::Local(lolwut), "server", "5.0.0", "Display some computer art and the Redis version", "[VERSION version]"),
];

fn lolwut(_session: &mut Session, args: &mut Args) -> CmdResult {
    let mut version = None;
    if args.remaining() >= 2 && args.keyword("VERSION") {
        // Redis prints the number as a C unsigned int ("%u.0.0") and matches on the text.
        version = Some(args.int()? as u32);
    }
    let text = match version {
        Some(5) => schotter(args)?,
        Some(6) => skyline(args)?,
        _ => format!("Redis ver. {REDIS_VERSION}\n"),
    };
    Ok(Reply::Verbatim("txt", Bytes::from(text)))
}

/// The optional numeric arguments, each clamped to `1..=max` as Redis does.
fn numbers<const N: usize>(args: &Args, mut values: [i64; N], max: i64) -> Result<[i64; N], Reply> {
    for value in values.iter_mut() {
        if args.is_done() {
            break;
        }
        *value = args.int()?;
    }
    Ok(values.map(|v| v.clamp(1, max)))
}

/// A pixel canvas, one byte per pixel (a colour index).
struct Canvas {
    width: i32,
    height: i32,
    pixels: Vec<u8>,
}

impl Canvas {
    fn new(width: i32, height: i32, color: u8) -> Canvas {
        Canvas {
            width,
            height,
            pixels: vec![color; (width.max(0) * height.max(0)) as usize],
        }
    }

    fn draw(&mut self, x: i32, y: i32, color: u8) {
        if (0..self.width).contains(&x) && (0..self.height).contains(&y) {
            self.pixels[(x + y * self.width) as usize] = color;
        }
    }

    fn get(&self, x: i32, y: i32) -> u8 {
        if (0..self.width).contains(&x) && (0..self.height).contains(&y) {
            self.pixels[(x + y * self.width) as usize]
        } else {
            0
        }
    }

    /// Bresenham, as lwDrawLine.
    fn line(&mut self, mut x1: i32, mut y1: i32, x2: i32, y2: i32, color: u8) {
        let (dx, dy) = ((x2 - x1).abs(), (y2 - y1).abs());
        let (sx, sy) = (if x1 < x2 { 1 } else { -1 }, if y1 < y2 { 1 } else { -1 });
        let mut err = dx - dy;
        loop {
            self.draw(x1, y1, color);
            if x1 == x2 && y1 == y2 {
                break;
            }
            let e2 = err * 2;
            if e2 > -dy {
                err -= dy;
                x1 += sx;
            }
            if e2 < dx {
                err += dx;
                y1 += sy;
            }
        }
    }

    /// A square of side `size` centred on (x, y), turned by `angle`, as lwDrawSquare (the
    /// float/double mix is Redis's).
    #[allow(clippy::approx_constant)] // Redis divides by this literal, not by sqrt(2).
    fn square(&mut self, x: i32, y: i32, size: f32, angle: f32, color: u8) {
        let size = (f64::from(size) / 1.4142135623) as f32;
        let size = f64::from(size).round() as f32;
        let mut k = (std::f64::consts::FRAC_PI_4 + f64::from(angle)) as f32;
        let mut px = [0i32; 4];
        let mut py = [0i32; 4];
        for j in 0..4 {
            px[j] = (f64::from(k).sin() * f64::from(size) + f64::from(x)).round() as i32;
            py[j] = (f64::from(k).cos() * f64::from(size) + f64::from(y)).round() as i32;
            k = (f64::from(k) + std::f64::consts::FRAC_PI_2) as f32;
        }
        for j in 0..4 {
            self.line(px[j], py[j], px[(j + 1) % 4], py[(j + 1) % 4], color);
        }
    }
}

thread_local! {
    static SEED: Cell<u64> = Cell::new(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0x9E37_79B9, |d| d.as_nanos() as u64)
            | 1,
    );
}

/// A number in `0..=RAND_MAX` (2^31 - 1), as C's rand() gives.
fn rand() -> i32 {
    SEED.with(|seed| {
        let mut x = seed.get();
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        seed.set(x);
        (x.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 33) as i32
    })
}

const RAND_MAX: f32 = 2147483647.0;

/// LOLWUT VERSION 5 [cols [squares-per-row [squares-per-col]]].
fn schotter(args: &Args) -> Result<String, Reply> {
    let [cols, per_row, per_col] = numbers(args, [66, 8, 12], 1000)?;
    let (per_row, per_col) = (per_row.min(200) as i32, per_col.min(200) as i32);
    let width = cols as i32 * 2;
    let padding = if width > 4 { 2 } else { 0 };
    let side = (width - padding * 2) as f32 / per_row as f32;
    let height = (side * per_col as f32 + (padding * 2) as f32) as i32;
    let mut canvas = Canvas::new(width, height, 0);
    for y in 0..per_col {
        for x in 0..per_row {
            let mut sx = (x as f32 * side + side / 2.0 + padding as f32) as i32;
            let mut sy = (y as f32 * side + side / 2.0 + padding as f32) as i32;
            let mut angle = 0.0;
            // Lower rows are turned and moved more and more at random.
            if y > 1 {
                let mut r = [0f32; 3];
                for v in r.iter_mut() {
                    *v = rand() as f32 / RAND_MAX / per_col as f32 * y as f32;
                }
                for v in r.iter_mut() {
                    if rand() % 2 != 0 {
                        *v = -*v;
                    }
                }
                angle = r[0];
                sx = (sx as f32 + r[1] * side / 3.0) as i32;
                sy = (sy as f32 + r[2] * side / 3.0) as i32;
            }
            canvas.square(sx, sy, side, angle, 1);
        }
    }
    let mut text = String::new();
    for y in (0..canvas.height).step_by(4) {
        for x in (0..canvas.width).step_by(2) {
            let dots = [
                (x, y),
                (x, y + 1),
                (x, y + 2),
                (x + 1, y),
                (x + 1, y + 1),
                (x + 1, y + 2),
                (x, y + 3),
                (x + 1, y + 3),
            ];
            let byte = dots
                .iter()
                .enumerate()
                .filter(|(_, &(px, py))| canvas.get(px, py) != 0)
                .fold(0u32, |b, (bit, _)| b | 1 << bit);
            text.push(char::from_u32(0x2800 + byte).unwrap_or(' '));
        }
        if y != canvas.height - 1 {
            text.push('\n');
        }
    }
    text.push_str("\nGeorg Nees - schotter, plotter on paper, 1968. Redis ver. ");
    text.push_str(REDIS_VERSION);
    text.push('\n');
    Ok(text)
}

/// One building of the skyline.
struct Skyscraper {
    xoff: i32,
    width: i32,
    height: i32,
    windows: bool,
    color: u8,
}

fn skyscraper(canvas: &mut Canvas, s: &Skyscraper) {
    let start = canvas.height - 1;
    let end = start - s.height + 1;
    for y in (end..=start).rev() {
        for x in s.xoff..s.xoff + s.width {
            // The roof is four pixels narrower.
            if y == end && (x <= s.xoff + 1 || x >= s.xoff + s.width - 2) {
                continue;
            }
            let mut color = s.color;
            let inner = x > s.xoff + 1 && x < s.xoff + s.width - 2 && y > end + 1 && y < start - 1;
            if s.windows && inner {
                let (relx, rely) = (x - (s.xoff + 1), y - (end + 1));
                // Windows are two pixels wide and one tall, both pixels the same colour.
                if (relx / 2) % 2 != 0 && rely % 2 != 0 {
                    loop {
                        color = 1 + (rand() % 2) as u8;
                        if color != s.color {
                            break;
                        }
                    }
                    if relx % 2 != 0 {
                        color = canvas.get(x - 1, y);
                    }
                }
            }
            canvas.draw(x, y, color);
        }
    }
}

/// LOLWUT VERSION 6 [cols [rows]].
fn skyline(args: &Args) -> Result<String, Reply> {
    let [cols, rows] = numbers(args, [80, 20], 1000)?;
    let mut canvas = Canvas::new(cols as i32, rows as i32, 3);
    let (width, height) = (canvas.width, canvas.height);
    // Background buildings in two greys, the lighter ones behind.
    for color in [2u8, 1] {
        let mut offset = -10;
        while offset < width {
            offset += rand() % 8;
            let building_width = 10 + rand() % 9;
            let building_height = if color == 2 {
                height / 2 + (rand() % height) / 2
            } else {
                height / 2 + (rand() % height) / 3
            };
            let s = Skyscraper {
                xoff: offset,
                width: building_width,
                height: building_height,
                windows: false,
                color,
            };
            skyscraper(&mut canvas, &s);
            offset += if color == 2 {
                building_width / 2
            } else {
                building_width + 1
            };
        }
    }
    // The foreground buildings, black with windows.
    let mut offset = -10;
    while offset < width {
        offset += rand() % 8;
        let mut building_width = 5 + rand() % 14;
        if building_width % 4 != 0 {
            building_width += building_width % 3;
        }
        let s = Skyscraper {
            xoff: offset,
            width: building_width,
            height: height / 3 + (rand() % height) / 2,
            windows: true,
            color: 0,
        };
        skyscraper(&mut canvas, &s);
        offset += building_width + 5;
    }
    let mut text = String::new();
    for y in 0..height {
        for x in 0..width {
            let escape = match canvas.get(x, y) {
                1 => "0;90;100m",
                2 => "0;37;47m",
                3 => "0;97;107m",
                _ => "0;30;40m",
            };
            text.push_str("\x1b[");
            text.push_str(escape);
            text.push_str(" \x1b[0m");
        }
        if y != height - 1 {
            text.push('\n');
        }
    }
    text.push_str("\nDedicated to the 8 bit game developers of past and present.\n");
    text.push_str("Original 8 bit image from Plaguemon by hikikomori. Redis ver. ");
    text.push_str(REDIS_VERSION);
    text.push('\n');
    Ok(text)
}
