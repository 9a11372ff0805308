//! Pixels and arrays: NPY files, image decoding.

pub mod atomic;
pub mod npy;
mod npy_header;
