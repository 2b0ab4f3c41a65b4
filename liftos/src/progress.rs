//! How a pipeline run shows its progress: one line per source and per stage.
//!
//! The library draws nothing itself: it emits `tracing` events, and tells a
//! [`ProgressView`] when one is given ([`PipelineBuilder::progress_view`](crate::pipeline::PipelineBuilder::progress_view)).
//! [`StderrProgress`] writes a plain line to stderr as each source or stage ends (what
//! [`PipelineBuilder::progress`](crate::pipeline::PipelineBuilder::progress)`(true)` uses); the
//! `liftos` binary draws live terminal lines with its own view.
//!
//! ```
//! use std::sync::{Arc, Mutex};
//! use liftos::progress::{ProgressLine, ProgressView};
//!
//! /// Keeps every finished line, e.g. for a GUI or a test.
//! #[derive(Debug, Default)]
//! struct Collect(Arc<Mutex<Vec<String>>>);
//! struct Line(String, Arc<Mutex<Vec<String>>>);
//! impl ProgressView for Collect {
//!     fn start(&self, name: &str) -> Box<dyn ProgressLine> {
//!         Box::new(Line(name.to_owned(), self.0.clone()))
//!     }
//! }
//! impl ProgressLine for Line {
//!     fn update(&self, _message: &str) {}
//!     fn finish(&self, message: &str) {
//!         self.1.lock().unwrap().push(format!("{}: {message}", self.0));
//!     }
//!     fn fail(&self, message: &str) {
//!         self.1.lock().unwrap().push(format!("{} failed: {message}", self.0));
//!     }
//! }
//! let view = Collect::default();
//! view.start("clean").finish("120 rows");
//! assert_eq!(view.0.lock().unwrap()[0], "clean: 120 rows");
//! ```

use std::fmt;
use std::io::Write as _;
use std::sync::Arc;

/// Where a run's progress lines go: one line per source pulled and per stage run.
pub trait ProgressView: Send + Sync + fmt::Debug {
    /// Starts a line named `name` (a source's name or a stage: `unify`, `clean`, ...).
    fn start(&self, name: &str) -> Box<dyn ProgressLine>;
}

/// One line of a [`ProgressView`]: updated while its source or stage runs, then finished
/// or failed once.
pub trait ProgressLine: Send + Sync {
    /// The current state, e.g. `1200 rows · 3 batches`.
    fn update(&self, message: &str);
    /// Done, e.g. `1200 rows in 2.1 s`.
    fn finish(&self, message: &str);
    /// Failed, with what went wrong.
    fn fail(&self, message: &str);
}

/// Plain progress lines on stderr, one as each source or stage ends:
/// `meta        1200 rows in 2.1 s`. No animation, so it suits logs and pipes too.
#[derive(Debug, Clone, Copy, Default)]
pub struct StderrProgress;

impl ProgressView for StderrProgress {
    fn start(&self, name: &str) -> Box<dyn ProgressLine> {
        Box::new(StderrLine(name.to_owned()))
    }
}

struct StderrLine(String);

impl ProgressLine for StderrLine {
    fn update(&self, _message: &str) {}
    fn finish(&self, message: &str) {
        let _ = writeln!(std::io::stderr(), "{:<10} {message}", self.0);
    }
    fn fail(&self, message: &str) {
        let _ = writeln!(std::io::stderr(), "{:<10} failed: {message}", self.0);
    }
}

/// A view that shows nothing (the library's default).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Silent;

impl ProgressView for Silent {
    fn start(&self, _name: &str) -> Box<dyn ProgressLine> {
        Box::new(Silent)
    }
}

impl ProgressLine for Silent {
    fn update(&self, _message: &str) {}
    fn finish(&self, _message: &str) {}
    fn fail(&self, _message: &str) {}
}

/// The view a run uses: the one given, else [`StderrProgress`] when `on`, else none.
pub(crate) fn view_for(on: bool, view: Option<Arc<dyn ProgressView>>) -> Arc<dyn ProgressView> {
    match view {
        Some(v) => v,
        None if on => Arc::new(StderrProgress),
        None => Arc::new(Silent),
    }
}
