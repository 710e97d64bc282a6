//! Redis's geohash arithmetic: 52-bit interleaved scores (latitude in the even bits,
//! longitude in the odd ones, over Web Mercator's latitude range), cell neighbours, the cells
//! a search visits, and the haversine distance on Redis's earth radius. The operations follow
//! geohash.c / geohash_helper.c step for step so results agree with redis-server to the last
//! printed digit. Depends on nothing.

pub const LAT_MIN: f64 = -85.051_128_78;
pub const LAT_MAX: f64 = 85.051_128_78;
pub const LONG_MIN: f64 = -180.0;
pub const LONG_MAX: f64 = 180.0;
pub const STEP_MAX: u8 = 26;
const EARTH_RADIUS: f64 = 6_372_797.560_856;
const MERCATOR_MAX: f64 = 20_037_726.37;
const D_R: f64 = std::f64::consts::PI / 180.0;

fn deg_rad(a: f64) -> f64 {
    a * D_R
}

fn rad_deg(a: f64) -> f64 {
    a / D_R
}

/// A cell: its interleaved bits and how many bits per axis (0 and 0: no cell).
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct Cell {
    pub bits: u64,
    pub step: u8,
}

impl Cell {
    pub fn is_zero(self) -> bool {
        self.bits == 0 && self.step == 0
    }

    /// The cell as a 52-bit score prefix.
    pub fn align52(self) -> u64 {
        self.bits << (52 - self.step as u32 * 2)
    }
}

#[derive(Clone, Copy, Default, Debug)]
pub struct Area {
    pub lon: (f64, f64),
    pub lat: (f64, f64),
}

fn spread(v: u32) -> u64 {
    let mut x = v as u64;
    x = (x | (x << 16)) & 0x0000_FFFF_0000_FFFF;
    x = (x | (x << 8)) & 0x00FF_00FF_00FF_00FF;
    x = (x | (x << 4)) & 0x0F0F_0F0F_0F0F_0F0F;
    x = (x | (x << 2)) & 0x3333_3333_3333_3333;
    (x | (x << 1)) & 0x5555_5555_5555_5555
}

fn squeeze(v: u64) -> u32 {
    let mut x = v & 0x5555_5555_5555_5555;
    x = (x | (x >> 1)) & 0x3333_3333_3333_3333;
    x = (x | (x >> 2)) & 0x0F0F_0F0F_0F0F_0F0F;
    x = (x | (x >> 4)) & 0x00FF_00FF_00FF_00FF;
    x = (x | (x >> 8)) & 0x0000_FFFF_0000_FFFF;
    ((x | (x >> 16)) & 0x0000_0000_FFFF_FFFF) as u32
}

/// The cell of `step` bits per axis holding (lon, lat) in the given ranges; None outside them.
pub fn encode_in(
    lon_range: (f64, f64),
    lat_range: (f64, f64),
    lon: f64,
    lat: f64,
    step: u8,
) -> Option<Cell> {
    if !(LONG_MIN..=LONG_MAX).contains(&lon) || !(LAT_MIN..=LAT_MAX).contains(&lat) {
        return None;
    }
    if lat < lat_range.0 || lat > lat_range.1 || lon < lon_range.0 || lon > lon_range.1 {
        return None;
    }
    let scale = (1u64 << step) as f64;
    let lat_offset = (lat - lat_range.0) / (lat_range.1 - lat_range.0) * scale;
    let lon_offset = (lon - lon_range.0) / (lon_range.1 - lon_range.0) * scale;
    let bits = spread(lat_offset as u32) | (spread(lon_offset as u32) << 1);
    Some(Cell { bits, step })
}

pub fn encode(lon: f64, lat: f64, step: u8) -> Option<Cell> {
    encode_in((LONG_MIN, LONG_MAX), (LAT_MIN, LAT_MAX), lon, lat, step)
}

/// The 52-bit score GEOADD stores for (lon, lat).
pub fn score_of(lon: f64, lat: f64) -> Option<u64> {
    encode(lon, lat, STEP_MAX).map(Cell::align52)
}

pub fn decode(cell: Cell) -> Area {
    let lat_i = squeeze(cell.bits) as f64;
    let lon_i = squeeze(cell.bits >> 1) as f64;
    let scale = (1u64 << cell.step) as f64;
    let (lat_span, lon_span) = (LAT_MAX - LAT_MIN, LONG_MAX - LONG_MIN);
    Area {
        lat: (
            LAT_MIN + (lat_i * 1.0 / scale) * lat_span,
            LAT_MIN + ((lat_i + 1.0) * 1.0 / scale) * lat_span,
        ),
        lon: (
            LONG_MIN + (lon_i * 1.0 / scale) * lon_span,
            LONG_MIN + ((lon_i + 1.0) * 1.0 / scale) * lon_span,
        ),
    }
}

/// The (lon, lat) a stored score stands for: its cell's centre, clamped to the valid ranges.
pub fn point_of(score: f64) -> (f64, f64) {
    let area = decode(Cell {
        bits: score as u64,
        step: STEP_MAX,
    });
    let lon = ((area.lon.0 + area.lon.1) / 2.0).clamp(LONG_MIN, LONG_MAX);
    let lat = ((area.lat.0 + area.lat.1) / 2.0).clamp(LAT_MIN, LAT_MAX);
    (lon, lat)
}

/// GEOHASH's 11-character string: the point re-encoded over the standard latitude range.
pub fn text_hash(score: f64) -> [u8; 11] {
    const ALPHABET: &[u8; 32] = b"0123456789bcdefghjkmnpqrstuvwxyz";
    let (lon, lat) = point_of(score);
    let bits = encode_in((-180.0, 180.0), (-90.0, 90.0), lon, lat, 26).map_or(0, |c| c.bits);
    let mut out = [b'0'; 11];
    for (i, c) in out.iter_mut().enumerate().take(10) {
        *c = ALPHABET[((bits >> (52 - (i + 1) * 5)) & 0x1f) as usize];
    }
    out
}

fn move_x(cell: &mut Cell, d: i8) {
    let shift = 64 - cell.step as u32 * 2;
    let mut x = cell.bits & 0xaaaa_aaaa_aaaa_aaaa;
    let y = cell.bits & 0x5555_5555_5555_5555;
    let zz = 0x5555_5555_5555_5555u64.checked_shr(shift).unwrap_or(0);
    if d > 0 {
        x = x.wrapping_add(zz + 1);
    } else {
        x |= zz;
        x = x.wrapping_sub(zz + 1);
    }
    x &= 0xaaaa_aaaa_aaaa_aaaau64.checked_shr(shift).unwrap_or(0);
    cell.bits = x | y;
}

fn move_y(cell: &mut Cell, d: i8) {
    let shift = 64 - cell.step as u32 * 2;
    let x = cell.bits & 0xaaaa_aaaa_aaaa_aaaa;
    let mut y = cell.bits & 0x5555_5555_5555_5555;
    let zz = 0xaaaa_aaaa_aaaa_aaaau64.checked_shr(shift).unwrap_or(0);
    if d > 0 {
        y = y.wrapping_add(zz + 1);
    } else {
        y |= zz;
        y = y.wrapping_sub(zz + 1);
    }
    y &= 0x5555_5555_5555_5555u64.checked_shr(shift).unwrap_or(0);
    cell.bits = x | y;
}

fn moved(cell: Cell, dx: i8, dy: i8) -> Cell {
    let mut c = cell;
    if dx != 0 {
        move_x(&mut c, dx);
    }
    if dy != 0 {
        move_y(&mut c, dy);
    }
    c
}

/// What a search is bounded by, in metres (radius, or box width and height).
#[derive(Clone, Copy, Debug)]
pub enum Shape {
    Radius(f64),
    Box(f64, f64),
}

/// A search: centre, shape (in the caller's unit) and the unit's size in metres.
#[derive(Clone, Copy, Debug)]
pub struct Search {
    pub lon: f64,
    pub lat: f64,
    pub shape: Shape,
    pub conversion: f64,
}

impl Search {
    /// (min lon, min lat, max lon, max lat) around the centre.
    fn bounds(&self) -> [f64; 4] {
        let (w, h) = match self.shape {
            Shape::Radius(r) => (r, r),
            Shape::Box(w, h) => (w / 2.0, h / 2.0),
        };
        let (height, width) = (h * self.conversion, w * self.conversion);
        let lat_delta = rad_deg(height / EARTH_RADIUS);
        let top = rad_deg(width / EARTH_RADIUS / deg_rad(self.lat + lat_delta).cos());
        let bottom = rad_deg(width / EARTH_RADIUS / deg_rad(self.lat - lat_delta).cos());
        let delta = if self.lat < 0.0 { bottom } else { top };
        [
            self.lon - delta,
            self.lat - lat_delta,
            self.lon + delta,
            self.lat + lat_delta,
        ]
    }

    /// The nine cells to scan (centre, N, S, E, W, NE, NW, SE, SW), zero where a neighbour is
    /// not needed: Redis's geohashCalculateAreasByShapeWGS84.
    pub fn cells(&self) -> [Cell; 9] {
        let [min_lon, min_lat, max_lon, max_lat] = self.bounds();
        let radius = match self.shape {
            Shape::Radius(r) => r,
            Shape::Box(w, h) => ((w / 2.0) * (w / 2.0) + (h / 2.0) * (h / 2.0)).sqrt(),
        } * self.conversion;
        let mut steps = estimate_steps(radius, self.lat);
        let mut centre = encode(self.lon, self.lat, steps).unwrap_or_default();
        let mut n = neighbours(centre);
        let mut area = decode(centre);
        let decrease = decode(n[1]).lat.1 < max_lat
            || decode(n[2]).lat.0 > min_lat
            || decode(n[3]).lon.1 < max_lon
            || decode(n[4]).lon.0 > min_lon;
        if steps > 1 && decrease {
            steps -= 1;
            centre = encode(self.lon, self.lat, steps).unwrap_or_default();
            n = neighbours(centre);
            area = decode(centre);
        }
        if steps >= 2 {
            let zero = |n: &mut [Cell; 9], which: [usize; 3]| {
                which.iter().for_each(|&i| n[i] = Cell::default())
            };
            if area.lat.0 < min_lat {
                zero(&mut n, [2, 8, 7]);
            }
            if area.lat.1 > max_lat {
                zero(&mut n, [1, 5, 6]);
            }
            if area.lon.0 < min_lon {
                zero(&mut n, [4, 8, 6]);
            }
            if area.lon.1 > max_lon {
                zero(&mut n, [3, 7, 5]);
            }
        }
        n[0] = centre;
        n
    }

    /// The distance (metres) from the centre to (lon, lat) when the point is inside the shape.
    pub fn contains(&self, lon: f64, lat: f64) -> Option<f64> {
        match self.shape {
            Shape::Radius(r) => {
                let d = distance(self.lon, self.lat, lon, lat);
                (d <= r * self.conversion).then_some(d)
            }
            Shape::Box(w, h) => {
                let (w, h) = (w * self.conversion, h * self.conversion);
                if lat_distance(lat, self.lat) > h / 2.0 {
                    return None;
                }
                if distance(lon, lat, self.lon, lat) > w / 2.0 {
                    return None;
                }
                Some(distance(self.lon, self.lat, lon, lat))
            }
        }
    }
}

/// Centre first, then N, S, E, W, NE, NW, SE, SW (the order Redis scans them in).
fn neighbours(c: Cell) -> [Cell; 9] {
    [
        c,
        moved(c, 0, 1),
        moved(c, 0, -1),
        moved(c, 1, 0),
        moved(c, -1, 0),
        moved(c, 1, 1),
        moved(c, -1, 1),
        moved(c, 1, -1),
        moved(c, -1, -1),
    ]
}

fn estimate_steps(mut range: f64, lat: f64) -> u8 {
    if range == 0.0 {
        return 26;
    }
    let mut step: i32 = 1;
    while range < MERCATOR_MAX {
        range *= 2.0;
        step += 1;
    }
    step -= 2;
    if !(-66.0..=66.0).contains(&lat) {
        step -= 1;
        if !(-80.0..=80.0).contains(&lat) {
            step -= 1;
        }
    }
    step.clamp(1, 26) as u8
}

fn lat_distance(lat1: f64, lat2: f64) -> f64 {
    EARTH_RADIUS * (deg_rad(lat2) - deg_rad(lat1)).abs()
}

/// Haversine distance in metres, as Redis computes it (a pure latitude move is exact).
pub fn distance(lon1: f64, lat1: f64, lon2: f64, lat2: f64) -> f64 {
    let v = ((deg_rad(lon2) - deg_rad(lon1)) / 2.0).sin();
    if v == 0.0 {
        return lat_distance(lat1, lat2);
    }
    let (lat1r, lat2r) = (deg_rad(lat1), deg_rad(lat2));
    let u = ((lat2r - lat1r) / 2.0).sin();
    let a = u * u + lat1r.cos() * lat2r.cos() * v * v;
    2.0 * EARTH_RADIUS * a.sqrt().asin()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn palermo_scores_and_distance_match_redis() {
        // GEOADD Sicily 13.361389 38.115556 "Palermo" 15.087269 37.502669 "Catania" on
        // redis-server 7.0.15: ZSCORE 3479099956230698 and 3479447370796909,
        // GEODIST 166274.1516, GEOHASH sqc8b49rny0 and sqdtr74hyu0.
        let p = score_of(13.361389, 38.115556).unwrap();
        let c = score_of(15.087269, 37.502669).unwrap();
        assert_eq!((p, c), (3479099956230698, 3479447370796909));
        let (a, b) = (point_of(p as f64), point_of(c as f64));
        let d = distance(a.0, a.1, b.0, b.1);
        assert_eq!(format!("{:.4}", d), "166274.1516");
        assert_eq!(&text_hash(p as f64), b"sqc8b49rny0");
        assert_eq!(&text_hash(c as f64), b"sqdtr74hyu0");
    }
}
