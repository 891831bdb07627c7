//! Home of the browser matrix and the demo site (`demo/`), served by `cargo xtask demo`.
//! The Playwright Test specs arrive with the issues "download engine" and "compatibility matrix".
