//! The digest's chart image (PNG, for the HTML mail): this month's and last month's counts side by side for each line of a table.
//!
//! The image has no text, so it needs no font: the mail puts the labels and figures in a
//! table right under it, in the same order and colours.

use super::Line;
use plotters::prelude::*;

pub const WIDTH: u32 = 720;
pub const HEIGHT: u32 = 280;
/// This month's bars, and the legend colour the mail uses for them.
pub const CURRENT: RGBColor = RGBColor(0xc0, 0x39, 0x2b);
pub const CURRENT_HEX: &str = "#c0392b";
pub const PREVIOUS: RGBColor = RGBColor(0x95, 0xa5, 0xa6);
pub const PREVIOUS_HEX: &str = "#95a5a6";

/// The least height of a bar for a count above zero.
const MIN_BAR_PX: i32 = 4;

/// A grouped bar chart of `lines` (at most 12 groups), as PNG bytes.
pub fn png(lines: &[Line]) -> Result<Vec<u8>, String> {
    let lines = &lines[..lines.len().min(12)];
    let mut rgb = vec![0u8; (WIDTH * HEIGHT * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut rgb, (WIDTH, HEIGHT)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| e.to_string())?;
        let max = lines.iter().map(|l| l.count.max(l.previous)).max().unwrap_or(0).max(1) as f64;
        let (left, right, top, bottom) = (16i32, WIDTH as i32 - 16, 16i32, HEIGHT as i32 - 24);
        let plot_h = f64::from(bottom - top);
        // Gridlines at quarters, so relative sizes can be read without numbers.
        for q in 0..=4 {
            let y = bottom - (plot_h * f64::from(q) / 4.0) as i32;
            root.draw(&PathElement::new(vec![(left, y), (right, y)], RGBColor(0xe0, 0xe0, 0xe0))).map_err(|e| e.to_string())?;
        }
        let groups = lines.len().max(1) as i32;
        let slot = (right - left) / groups;
        let bar = (slot / 3).max(2);
        for (i, l) in lines.iter().enumerate() {
            let x0 = left + slot * i as i32 + slot / 6;
            for (j, (value, colour)) in [(l.count, CURRENT), (l.previous, PREVIOUS)].into_iter().enumerate() {
                // A month's one major event beside 140 general ones is still a bar one can see.
                let h = if value == 0 { 0 } else { ((plot_h * value as f64 / max) as i32).max(MIN_BAR_PX) };
                let x = x0 + j as i32 * bar;
                root.draw(&Rectangle::new([(x, bottom - h), (x + bar - 2, bottom)], colour.filled())).map_err(|e| e.to_string())?;
            }
        }
        root.draw(&PathElement::new(vec![(left, bottom), (right, bottom)], BLACK)).map_err(|e| e.to_string())?;
        root.present().map_err(|e| e.to_string())?;
    }
    let mut out = Vec::new();
    {
        let mut enc = png::Encoder::new(&mut out, WIDTH, HEIGHT);
        enc.set_color(png::ColorType::Rgb);
        enc.set_depth(png::BitDepth::Eight);
        let mut w = enc.write_header().map_err(|e| e.to_string())?;
        w.write_image_data(&rgb).map_err(|e| e.to_string())?;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The pixel at (x, y) of the decoded chart.
    fn pixel(png_bytes: &[u8], x: u32, y: u32) -> [u8; 3] {
        let decoder = png::Decoder::new(std::io::Cursor::new(png_bytes));
        let mut reader = decoder.read_info().unwrap();
        let mut buf = vec![0; reader.output_buffer_size()];
        reader.next_frame(&mut buf).unwrap();
        let i = ((y * WIDTH + x) * 3) as usize;
        [buf[i], buf[i + 1], buf[i + 2]]
    }

    #[test]
    fn one_beside_many_is_still_a_visible_bar() {
        let line = |label: &str, count| Line { label: label.into(), count, previous: 0 };
        let chart = png(&[line("一般", 140), line("重大", 1), line("较大", 0)]).unwrap();
        let slot = (WIDTH as i32 - 32) / 3;
        let bottom = HEIGHT as i32 - 24;
        // Two pixels above the axis, in the middle of each group's first bar.
        let at = |group: i32| pixel(&chart, (16 + slot * group + slot / 6 + 3) as u32, (bottom - 2) as u32);
        let red = [CURRENT.0, CURRENT.1, CURRENT.2];
        assert_eq!(at(0), red);
        assert_eq!(at(1), red, "the single major event shows");
        assert_ne!(at(2), red, "nothing is drawn for none");
    }
}
