//! Progress on a terminal: a spinner while waiting, a byte bar while hashing and uploading.
//! indicatif draws nothing when stderr is not a terminal; what must still be said there (a
//! finished step) goes through `say`, which prints plainly then.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use aws_sdk_s3::primitives::ByteStream;
use aws_smithy_types::body::SdkBody;
use bytes::Bytes;
use indicatif::{ProgressBar, ProgressStyle};

/// A bar over `total` bytes, e.g. "uploading hello-service-1.2.0.zip".
pub fn bytes(total: u64, what: &str) -> ProgressBar {
    let bar = ProgressBar::new(total).with_finish(indicatif::ProgressFinish::AndClear);
    if let Ok(style) =
        ProgressStyle::with_template("{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} {eta}")
    {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_message(what.to_owned());
    bar
}

/// A spinner with `{msg}` and the time since it started.
pub fn spinner(msg: &str) -> ProgressBar {
    // Cleared however following ends (Ctrl-C drops it mid-wait).
    let bar = ProgressBar::new_spinner().with_finish(indicatif::ProgressFinish::AndClear);
    if let Ok(style) = ProgressStyle::with_template("{spinner} {msg} ({elapsed})") {
        bar.set_style(style);
    }
    bar.set_message(msg.to_owned());
    bar.enable_steady_tick(Duration::from_millis(120));
    bar
}

/// A line for stderr: above the bar on a terminal, plainly everywhere else.
pub fn say(bar: &ProgressBar, line: &str) {
    if bar.is_hidden() {
        eprintln!("{line}");
    } else {
        bar.suspend(|| eprintln!("{line}"));
    }
}

/// `body` counting its bytes into `bar` as the SDK sends them. A retried upload starts the
/// count again (the SDK rebuilds the body from the file).
pub fn counted(body: ByteStream, bar: ProgressBar) -> ByteStream {
    ByteStream::new(body.into_inner().map_preserve_contents(move |inner| {
        bar.set_position(0);
        SdkBody::from_body_1_x(Counting {
            inner: Box::pin(inner),
            bar: bar.clone(),
        })
    }))
}

struct Counting {
    inner: Pin<Box<SdkBody>>,
    bar: ProgressBar,
}

impl http_body::Body for Counting {
    type Data = Bytes;
    type Error = aws_smithy_types::body::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, Self::Error>>> {
        let polled = self.inner.as_mut().poll_frame(cx);
        if let Poll::Ready(Some(Ok(frame))) = &polled {
            if let Some(data) = frame.data_ref() {
                self.bar.inc(data.len() as u64);
            }
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        http_body::Body::is_end_stream(self.inner.as_ref().get_ref())
    }

    fn size_hint(&self) -> http_body::SizeHint {
        http_body::Body::size_hint(self.inner.as_ref().get_ref())
    }
}
