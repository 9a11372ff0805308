//! Pixels and arrays: NPY files, image decoding.

pub mod npy;
