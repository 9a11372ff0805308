//! The embedded demo: a world of generated shape pictures (`shapes`) in which a small
//! VGG-style network, trained by `examples/train_demo.rs`, learns to tell ten shapes apart, so
//! that a first run shows real maps offline.

pub mod shapes;
