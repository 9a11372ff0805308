//! convscope's integration tests, in one test binary (one link instead of one per file): each
//! module is one area, `common` the helpers they share.

mod common;

mod actmax;
mod backward_fd;
mod backward_fd_decoder;
mod cancel;
mod checkpoints;
mod cli_actmax;
mod cli_bad_input;
mod cli_demo;
mod cli_evaluate;
mod cli_many;
mod cli_many_bad_input;
mod cli_occlusion;
mod cli_render;
mod cli_render_bad_input;
mod cli_zoo;
mod demo_semantics;
mod deprocess;
mod executor_partial;
mod features_layers;
mod fuzz_corpus;
mod hostile_files;
mod hub_download;
mod keras_apps;
mod keras_bad_input;
mod keras_reference;
mod maps_reference;
mod methods_analytic;
mod occlusion_incremental;
mod occlusion_views;
mod onnx_reference;
mod readme_cluster;
mod rooms;
mod runner;
mod trust_captum;
mod trust_randomize;
mod trust_reference;
mod trust_semantics;
mod tui;
mod tui_pty;
mod tui_tmux;
mod tui_trust;
mod zoo_candle_oracle;
mod zoo_reference;
