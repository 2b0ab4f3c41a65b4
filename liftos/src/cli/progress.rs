//! Live progress lines on a terminal (indicatif): the binary's [`ProgressView`]; the
//! library itself draws nothing.

use std::sync::Arc;
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use liftos::progress::{ProgressLine, ProgressView};

/// One spinner line per source and stage on stderr, with its elapsed time.
#[derive(Debug)]
pub(crate) struct TerminalProgress {
    bars: MultiProgress,
}

impl TerminalProgress {
    /// The view for this process: live lines when stderr is a terminal, else none
    /// (logs go through `tracing` there).
    pub(crate) fn for_stderr() -> Option<Arc<dyn ProgressView>> {
        use std::io::IsTerminal as _;
        std::io::stderr().is_terminal().then(|| {
            Arc::new(TerminalProgress {
                bars: MultiProgress::with_draw_target(ProgressDrawTarget::stderr()),
            }) as Arc<dyn ProgressView>
        })
    }
}

impl ProgressView for TerminalProgress {
    fn start(&self, name: &str) -> Box<dyn ProgressLine> {
        let bar = self.bars.add(ProgressBar::new_spinner());
        if let Ok(style) = ProgressStyle::with_template("{spinner} {prefix:<10} {elapsed:>4} {msg}")
        {
            bar.set_style(style);
        }
        bar.set_prefix(name.to_owned());
        bar.enable_steady_tick(Duration::from_millis(120));
        Box::new(Line(bar))
    }
}

struct Line(ProgressBar);

impl ProgressLine for Line {
    fn update(&self, message: &str) {
        self.0.set_message(message.to_owned());
    }
    fn finish(&self, message: &str) {
        self.0.finish_with_message(message.to_owned());
    }
    fn fail(&self, message: &str) {
        self.0.abandon_with_message(format!("failed: {message}"));
    }
}
