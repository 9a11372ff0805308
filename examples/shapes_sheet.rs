//! Pictures of the demo model's world:
//!
//! ```sh
//! cargo run --example shapes_sheet -- sheet OUT.png [STREAM]   # a contact sheet, boxes drawn
//! cargo run --example shapes_sheet -- classes DIR [STREAM]     # one PNG per class: DIR/CLASS.png
//! ```
//!
//! `demo/images/shapes/` holds the `classes` pictures of the held-out stream 2 (the stream the
//! trainer never sees), one per class.

use convscope::import::demo::shapes::{sample, CLASSES};

const SIZE: usize = 96;

fn picture(stream: u64, index: u64, boxed: bool) -> image::RgbImage {
    let s = sample(stream, index, SIZE);
    let [x0, y0, x1, y1] = s.bbox;
    image::RgbImage::from_fn(SIZE as u32, SIZE as u32, |x, y| {
        let (x, y) = (x as usize, y as usize);
        let edge = ((x == x0 || x + 1 == x1) && (y0..y1).contains(&y))
            || ((y == y0 || y + 1 == y1) && (x0..x1).contains(&x));
        let k = (y * SIZE + x) * 3;
        if boxed && edge {
            image::Rgb([255, 255, 255])
        } else {
            image::Rgb([s.rgb[k], s.rgb[k + 1], s.rgb[k + 2]])
        }
    })
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some(what), Some(out)) = (args.first(), args.get(1)) else {
        eprintln!("error: usage: shapes_sheet (sheet OUT.png | classes DIR) [STREAM]");
        std::process::exit(2)
    };
    let stream: u64 = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(2);
    let n = CLASSES.len() as u64;
    match what.as_str() {
        "sheet" => {
            let rows = 6;
            let mut sheet = image::RgbImage::new((n as usize * SIZE) as u32, (rows * SIZE) as u32);
            for i in 0..rows as u64 * n {
                let (col, row) = ((i % n) as i64 * SIZE as i64, (i / n) as i64 * SIZE as i64);
                image::imageops::overlay(&mut sheet, &picture(stream, i, true), col, row);
            }
            sheet.save(out).expect("write the sheet");
            println!("wrote {out}");
        }
        "classes" => {
            std::fs::create_dir_all(out).expect("create the folder");
            for (i, name) in CLASSES.iter().enumerate() {
                let path = std::path::Path::new(out).join(format!("{name}.png"));
                picture(stream, i as u64, false)
                    .save(&path)
                    .expect("write a picture");
                println!("wrote {}", path.display());
            }
        }
        other => {
            eprintln!("error: unknown command {other}; use sheet or classes");
            std::process::exit(2)
        }
    }
}
