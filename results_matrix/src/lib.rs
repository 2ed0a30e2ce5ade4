//! What the two binaries of this package share: `results_matrix` (the
//! results table and its bar chart) and `timeline` (one picture per
//! pipeline mode of every task's events against time) both draw PNGs the
//! same way, through [`canvas`].

pub mod canvas;
