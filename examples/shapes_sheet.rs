//! Writes a contact sheet of generated demo pictures: `cargo run --example shapes_sheet -- OUT.png [SEED]`.
//! Each class in a column, boxes drawn in white, to see the world the demo model learns.

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let out = args.get(1).map(String::as_str).unwrap_or("shapes.png");
    let seed: u64 = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(0);
    let (size, rows) = (96usize, 6u64);
    let classes = convscope::demo::shapes::CLASSES.len();
    let mut sheet = image::RgbImage::new((classes * size) as u32, (rows as usize * size) as u32);
    for i in 0..rows * classes as u64 {
        let s = convscope::demo::shapes::sample(seed, i, size);
        let (col, row) = ((i % classes as u64) as usize, (i / classes as u64) as usize);
        for y in 0..size {
            for x in 0..size {
                let k = (y * size + x) * 3;
                let [x0, y0, x1, y1] = s.bbox;
                let edge = ((x == x0 || x + 1 == x1) && (y0..y1).contains(&y))
                    || ((y == y0 || y + 1 == y1) && (x0..x1).contains(&x));
                let px = if edge {
                    [255, 255, 255]
                } else {
                    [s.rgb[k], s.rgb[k + 1], s.rgb[k + 2]]
                };
                sheet.put_pixel(
                    (col * size + x) as u32,
                    (row * size + y) as u32,
                    image::Rgb(px),
                );
            }
        }
    }
    sheet.save(out).expect("write the sheet");
    println!("wrote {out}");
}
