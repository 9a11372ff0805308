//! Pixels and arrays: NPY files, image decoding.

pub mod atomic;
pub mod colormap;
pub mod font;
pub mod grid;
pub mod heatmap;
pub mod npy;
mod npy_header;
pub mod png;
