//! The geohash arithmetic behind the GEO commands, as Redis defines it: a
//! point is stored as a sorted set score, the 52-bit interleaving of its
//! latitude (even bits) and longitude (odd bits) cells at 26 bits each, on
//! the Web Mercator latitude range (±85.05112878°, not ±90°). Searches
//! cover the query shape with a cell of an estimated size and its eight
//! neighbours, scan each cell's score range, and keep the points inside
//! the shape by great-circle distance.
//!
//! Everything here must reproduce Redis's numbers bit for bit (stored
//! scores, decoded positions, distances, which cells a search scans and in
//! what order), so the formulas follow Redis's own order of operations;
//! `f64`'s `sin`/`cos`/`asin`/`sqrt` are the C library's, as Redis's are.

pub const STEP_MAX: u8 = 26;
pub const LAT_MIN: f64 = -85.05112878;
pub const LAT_MAX: f64 = 85.05112878;
pub const LON_MIN: f64 = -180.0;
pub const LON_MAX: f64 = 180.0;

/// Redis's earth radius for distances (the WGS-84 quadratic mean).
const EARTH_RADIUS_M: f64 = 6372797.560856;
/// Half the Mercator world's width: the radius at which one cell covers it.
const MERCATOR_MAX: f64 = 20037726.37;
const D_R: f64 = std::f64::consts::PI / 180.0;

fn deg_rad(a: f64) -> f64 {
    a * D_R
}
fn rad_deg(a: f64) -> f64 {
    a / D_R
}

/// A cell: `step` bits of latitude and `step` of longitude, interleaved.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct Cell {
    pub bits: u64,
    pub step: u8,
}

impl Cell {
    /// The sorted set scores of the points in this cell: `[min, max)`.
    pub fn score_range(self) -> (u64, u64) {
        let shift = 52 - u32::from(self.step) * 2;
        (self.bits << shift, (self.bits + 1) << shift)
    }
}

#[derive(Clone, Copy, Debug)]
pub struct Range {
    pub min: f64,
    pub max: f64,
}

/// The area a cell covers.
#[derive(Clone, Copy, Debug)]
pub struct Area {
    pub lon: Range,
    pub lat: Range,
}

const LON: Range = Range {
    min: LON_MIN,
    max: LON_MAX,
};
const LAT: Range = Range {
    min: LAT_MIN,
    max: LAT_MAX,
};

/// Spread the low 32 bits of `x` to the even bits and of `y` to the odd.
fn interleave(x: u32, y: u32) -> u64 {
    fn spread(v: u32) -> u64 {
        let mut v = u64::from(v);
        v = (v | (v << 16)) & 0x0000_FFFF_0000_FFFF;
        v = (v | (v << 8)) & 0x00FF_00FF_00FF_00FF;
        v = (v | (v << 4)) & 0x0F0F_0F0F_0F0F_0F0F;
        v = (v | (v << 2)) & 0x3333_3333_3333_3333;
        (v | (v << 1)) & 0x5555_5555_5555_5555
    }
    spread(x) | (spread(y) << 1)
}

/// The inverse: (even bits, odd bits).
fn deinterleave(v: u64) -> (u32, u32) {
    fn squash(mut v: u64) -> u32 {
        v &= 0x5555_5555_5555_5555;
        v = (v | (v >> 1)) & 0x3333_3333_3333_3333;
        v = (v | (v >> 2)) & 0x0F0F_0F0F_0F0F_0F0F;
        v = (v | (v >> 4)) & 0x00FF_00FF_00FF_00FF;
        v = (v | (v >> 8)) & 0x0000_FFFF_0000_FFFF;
        ((v | (v >> 16)) & 0x0000_0000_FFFF_FFFF) as u32
    }
    (squash(v), squash(v >> 1))
}

/// The cell of `step` bits containing (lon, lat) on the given ranges;
/// `None` outside them (or outside Redis's latitude limits).
pub fn encode_in(lon_r: Range, lat_r: Range, lon: f64, lat: f64, step: u8) -> Option<Cell> {
    if step == 0 || step > 32 {
        return None;
    }
    if !(LON_MIN..=LON_MAX).contains(&lon) || !(LAT_MIN..=LAT_MAX).contains(&lat) {
        return None;
    }
    if lat < lat_r.min || lat > lat_r.max || lon < lon_r.min || lon > lon_r.max {
        return None;
    }
    let scale = (1u64 << step) as f64;
    let lat_off = (lat - lat_r.min) / (lat_r.max - lat_r.min) * scale;
    let lon_off = (lon - lon_r.min) / (lon_r.max - lon_r.min) * scale;
    Some(Cell {
        bits: interleave(lat_off as u32, lon_off as u32),
        step,
    })
}

pub fn encode(lon: f64, lat: f64, step: u8) -> Option<Cell> {
    encode_in(LON, LAT, lon, lat, step)
}

/// The area of `cell` on the given ranges.
fn decode_in(lon_r: Range, lat_r: Range, cell: Cell) -> Area {
    let (ilat, ilon) = deinterleave(cell.bits);
    let cells = (1u64 << cell.step) as f64;
    let (lat_scale, lon_scale) = (lat_r.max - lat_r.min, lon_r.max - lon_r.min);
    Area {
        lat: Range {
            min: lat_r.min + (f64::from(ilat) / cells) * lat_scale,
            max: lat_r.min + ((f64::from(ilat) + 1.0) / cells) * lat_scale,
        },
        lon: Range {
            min: lon_r.min + (f64::from(ilon) / cells) * lon_scale,
            max: lon_r.min + ((f64::from(ilon) + 1.0) / cells) * lon_scale,
        },
    }
}

pub fn decode(cell: Cell) -> Area {
    decode_in(LON, LAT, cell)
}

/// The position a score stands for: the centre of its 26-bit cell,
/// clamped to the valid ranges. Any score decodes (a sorted set not made
/// by GEOADD included), as in Redis, whose C cast of the score to an
/// unsigned integer is reproduced.
pub fn position_of_score(score: f64) -> (f64, f64) {
    let a = decode(Cell {
        bits: c_double_to_u64(score),
        step: STEP_MAX,
    });
    let lon = ((a.lon.min + a.lon.max) / 2.0).clamp(LON_MIN, LON_MAX);
    let lat = ((a.lat.min + a.lat.max) / 2.0).clamp(LAT_MIN, LAT_MAX);
    (lon, lat)
}

/// The score GEOADD stores for a valid (lon, lat).
pub fn score_of(lon: f64, lat: f64) -> Option<u64> {
    encode(lon, lat, STEP_MAX).map(|c| c.score_range().0)
}

/// `(uint64_t)d` as x86-64 C compilers emit it (cvttsd2si, with the
/// upper half of the range shifted first): negative scores wrap, huge and
/// NaN ones give what the hardware gives.
fn c_double_to_u64(d: f64) -> u64 {
    const TWO63: f64 = 9_223_372_036_854_775_808.0;
    // cvttsd2si's answer for anything it cannot represent.
    fn cvtt(x: f64) -> i64 {
        if x.is_nan() || !(-TWO63..TWO63).contains(&x) {
            i64::MIN
        } else {
            x as i64
        }
    }
    if d < TWO63 {
        cvtt(d) as u64
    } else {
        (cvtt(d - TWO63) as u64) ^ (1 << 63)
    }
}

/// The standard 11-character geohash of a position (latitude on ±90°,
/// the last character always '0': only 52 bits are known).
pub fn standard_geohash(lon: f64, lat: f64) -> [u8; 11] {
    const ALPHABET: &[u8; 32] = b"0123456789bcdefghjkmnpqrstuvwxyz";
    let std_lat = Range {
        min: -90.0,
        max: 90.0,
    };
    let bits = encode_in(LON, std_lat, lon, lat, STEP_MAX).map_or(0, |c| c.bits);
    let mut out = [b'0'; 11];
    for (i, c) in out.iter_mut().take(10).enumerate() {
        let idx = (bits >> (52 - (i + 1) * 5)) & 0x1f;
        *c = ALPHABET[idx as usize];
    }
    out
}

/// Move a cell by one along one axis, wrapping: `axis` masks that axis's
/// bits (odd bits: longitude, `d` > 0 east; even bits: latitude, `d` > 0
/// north). The other axis's bits are filled in so a carry or borrow runs
/// through them.
fn move_axis(cell: &mut Cell, d: i8, axis: u64) {
    if d == 0 {
        return;
    }
    let width = 64 - u32::from(cell.step) * 2;
    let mut mine = cell.bits & axis;
    let other = cell.bits & !axis;
    let zz = !axis >> width;
    if d > 0 {
        mine = mine.wrapping_add(zz + 1);
    } else {
        mine |= zz;
        mine = mine.wrapping_sub(zz + 1);
    }
    mine &= axis >> width;
    cell.bits = mine | other;
}

const LON_BITS: u64 = 0xaaaa_aaaa_aaaa_aaaa;
const LAT_BITS: u64 = 0x5555_5555_5555_5555;

fn moved(mut cell: Cell, dx: i8, dy: i8) -> Cell {
    move_axis(&mut cell, dx, LON_BITS);
    move_axis(&mut cell, dy, LAT_BITS);
    cell
}

/// What a search looks for: a circle or an axis-aligned box (in meters
/// once multiplied by `to_meters`) around a centre.
#[derive(Clone, Copy, Debug)]
pub enum Shape {
    Radius(f64),
    Box { width: f64, height: f64 },
}

#[derive(Clone, Copy, Debug)]
pub struct Search {
    pub lon: f64,
    pub lat: f64,
    pub to_meters: f64,
    pub shape: Shape,
}

/// The bits of precision of the cells that cover a search of this radius.
fn steps_for_radius(mut meters: f64, lat: f64) -> u8 {
    if meters == 0.0 {
        return 26;
    }
    let mut step: i32 = 1;
    while meters < MERCATOR_MAX {
        meters *= 2.0;
        step += 1;
    }
    // Redis's margin, so that the radius fits in most cases.
    step -= 2;
    // Cells narrow towards the poles.
    if !(-66.0..=66.0).contains(&lat) {
        step -= 1;
        if !(-80.0..=80.0).contains(&lat) {
            step -= 1;
        }
    }
    step.clamp(1, 26) as u8
}

impl Search {
    /// The box (min lon, min lat, max lon, max lat) that holds the shape.
    fn bounds(&self) -> [f64; 4] {
        let (h, w) = match self.shape {
            Shape::Radius(r) => (r, r),
            Shape::Box { width, height } => (height / 2.0, width / 2.0),
        };
        let (height, width) = (self.to_meters * h, self.to_meters * w);
        let lat_delta = rad_deg(height / EARTH_RADIUS_M);
        let lon_delta_top = rad_deg(width / EARTH_RADIUS_M / deg_rad(self.lat + lat_delta).cos());
        let lon_delta_bottom =
            rad_deg(width / EARTH_RADIUS_M / deg_rad(self.lat - lat_delta).cos());
        // The box's wider edge is the one nearer the equator.
        let lon_delta = if self.lat < 0.0 {
            lon_delta_bottom
        } else {
            lon_delta_top
        };
        [
            self.lon - lon_delta,
            self.lat - lat_delta,
            self.lon + lon_delta,
            self.lat + lat_delta,
        ]
    }

    /// The cells to scan, in Redis's order (centre, N, S, E, W, NE, NW,
    /// SE, SW), the ones that cannot hold a match left out and a cell equal
    /// to the one scanned just before skipped (huge radii wrap around).
    pub fn cells(&self) -> Vec<Cell> {
        let [min_lon, min_lat, max_lon, max_lat] = self.bounds();
        let radius = match self.shape {
            Shape::Radius(r) => r,
            Shape::Box { width, height } => {
                ((width / 2.0) * (width / 2.0) + (height / 2.0) * (height / 2.0)).sqrt()
            }
        } * self.to_meters;
        let mut steps = steps_for_radius(radius, self.lat);
        let around = |steps: u8| {
            let c = encode(self.lon, self.lat, steps).unwrap_or(Cell {
                bits: 0,
                step: steps,
            });
            (c, decode(c))
        };
        let (mut centre, mut area) = around(steps);
        // A neighbour too close to the shape to cover it: one step coarser.
        let short = {
            let n = decode(moved(centre, 0, 1));
            let s = decode(moved(centre, 0, -1));
            let e = decode(moved(centre, 1, 0));
            let w = decode(moved(centre, -1, 0));
            n.lat.max < max_lat || s.lat.min > min_lat || e.lon.max < max_lon || w.lon.min > min_lon
        };
        if steps > 1 && short {
            steps -= 1;
            (centre, area) = around(steps);
        }
        // (dx, dy) of each cell in scan order.
        const ORDER: [(i8, i8); 9] = [
            (0, 0),
            (0, 1),
            (0, -1),
            (1, 0),
            (-1, 0),
            (1, 1),
            (-1, 1),
            (1, -1),
            (-1, -1),
        ];
        let mut out = Vec::with_capacity(9);
        // The last neighbour scanned (Redis compares with the centre never:
        // its "last processed" index 0 reads as none).
        let mut last: Option<Cell> = None;
        for (i, (dx, dy)) in ORDER.into_iter().enumerate() {
            let useless = steps >= 2
                && ((dy < 0 && area.lat.min < min_lat)
                    || (dy > 0 && area.lat.max > max_lat)
                    || (dx < 0 && area.lon.min < min_lon)
                    || (dx > 0 && area.lon.max > max_lon));
            let cell = moved(centre, dx, dy);
            if useless || last == Some(cell) {
                continue;
            }
            out.push(cell);
            if i > 0 {
                last = Some(cell);
            }
        }
        out
    }

    /// Whether (lon, lat) is inside the shape, and its distance in meters
    /// from the centre.
    pub fn distance_if_within(&self, lon: f64, lat: f64) -> Option<f64> {
        match self.shape {
            Shape::Radius(r) => {
                let d = distance(self.lon, self.lat, lon, lat);
                (d <= r * self.to_meters).then_some(d)
            }
            Shape::Box { width, height } => {
                let (w, h) = (width * self.to_meters, height * self.to_meters);
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

fn lat_distance(lat1: f64, lat2: f64) -> f64 {
    EARTH_RADIUS_M * (deg_rad(lat2) - deg_rad(lat1)).abs()
}

/// Great-circle distance in meters (haversine).
pub fn distance(lon1: f64, lat1: f64, lon2: f64, lat2: f64) -> f64 {
    let v = ((deg_rad(lon2) - deg_rad(lon1)) / 2.0).sin();
    if v == 0.0 {
        return lat_distance(lat1, lat2);
    }
    let (lat1r, lat2r) = (deg_rad(lat1), deg_rad(lat2));
    let u = ((lat2r - lat1r) / 2.0).sin();
    let a = u * u + lat1r.cos() * lat2r.cos() * v * v;
    2.0 * EARTH_RADIUS_M * a.sqrt().asin()
}

/// Redis's `fixedpoint_d2string(.., 4)`: the distance rounded to four
/// decimals (half to even, as `llrint`), always with four of them.
pub fn format_distance(d: f64) -> String {
    if d == 0.0 {
        return "0.0000".into();
    }
    let v = (d * 10000.0).round_ties_even();
    let neg = v < 0.0;
    let digits = format!("{}", v.abs() as u64);
    let (int, frac) = if digits.len() > 4 {
        digits.split_at(digits.len() - 4)
    } else {
        ("0", digits.as_str())
    };
    format!("{}{int}.{frac:0>4}", if neg { "-" } else { "" })
}

/// `ld2string`'s human form of a double (what GEOPOS and WITHCOORD show):
/// 17 decimals, trailing zeros and a bare point removed.
pub fn format_coordinate(v: f64) -> String {
    // The double widened to long double prints the same digits: its exact
    // value is the same.
    super::long_double::human_form(format!("{v:.17}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interleave_round_trips() {
        for (x, y) in [
            (0u32, 0u32),
            (1, 0),
            (0, 1),
            (0x3ff_ffff, 0x155_5555),
            (u32::MAX, 7),
        ] {
            assert_eq!(deinterleave(interleave(x, y)), (x, y));
        }
        assert_eq!(interleave(1, 0), 1);
        assert_eq!(interleave(0, 1), 2);
    }

    /// Scores and positions redis-server 7.0 gives for its documentation's
    /// examples (GEOADD Sicily 13.361389 38.115556 Palermo 15.087269
    /// 37.502669 Catania).
    #[test]
    fn scores_positions_and_distances_as_redis() {
        assert_eq!(score_of(13.361389, 38.115556), Some(3479099956230698));
        assert_eq!(score_of(15.087269, 37.502669), Some(3479447370796909));
        let (lon, lat) = position_of_score(3479099956230698.0);
        assert_eq!(format_coordinate(lon), "13.36138933897018433");
        assert_eq!(format_coordinate(lat), "38.11555639549629859");
        let (lon2, lat2) = position_of_score(3479447370796909.0);
        assert_eq!(
            format_distance(distance(lon, lat, lon2, lat2)),
            "166274.1516"
        );
        assert_eq!(
            format_distance(distance(lon, lat, lon2, lat2) / 1000.0),
            "166.2742"
        );
        assert_eq!(&standard_geohash(lon, lat), b"sqc8b49rny0");
        assert_eq!(&standard_geohash(lon2, lat2), b"sqdtr74hyu0");
        assert_eq!(score_of(200.0, 10.0), None);
        assert_eq!(score_of(10.0, 85.06), None);
    }

    #[test]
    fn distances_format_with_four_decimals() {
        assert_eq!(format_distance(0.0), "0.0000");
        assert_eq!(format_distance(0.05), "0.0500");
        assert_eq!(format_distance(1.23456), "1.2346");
        assert_eq!(format_distance(12345.6), "12345.6000");
        assert_eq!(format_coordinate(-0.0), "0");
        assert_eq!(format_coordinate(2.5), "2.5");
        assert_eq!(format_coordinate(3.0), "3");
    }

    #[test]
    fn c_casts_of_odd_scores() {
        assert_eq!(c_double_to_u64(5.9), 5);
        assert_eq!(c_double_to_u64(-1.0), u64::MAX);
        assert_eq!(c_double_to_u64(1e30), 0);
        assert_eq!(c_double_to_u64(f64::NAN), 0);
        assert_eq!(c_double_to_u64(9_223_372_036_854_775_808.0), 1 << 63);
    }

    #[test]
    fn a_search_scans_the_centre_cell_first_and_no_cell_twice() {
        let s = Search {
            lon: 15.0,
            lat: 37.0,
            to_meters: 1000.0,
            shape: Shape::Radius(200.0),
        };
        let cells = s.cells();
        assert_eq!(cells[0], encode(15.0, 37.0, cells[0].step).unwrap());
        for w in cells[1..].windows(2) {
            assert_ne!(w[0], w[1]);
        }
        // A radius covering the world still ends up with coarse cells.
        let huge = Search {
            shape: Shape::Radius(50_000.0),
            ..s
        };
        assert!(huge.cells().iter().all(|c| c.step == 1));
    }
}
