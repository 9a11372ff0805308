//! The pictures on screen, through ratatui-image: one protocol state per shown picture, built
//! when the picture first shows and re-encoded only when its area changes. Encoding (sixel or
//! kitty of a large pane takes tens of milliseconds) runs on a worker thread in the interface:
//! a picture whose encoding is under way is left out of the frame, and the loop redraws when it
//! arrives. Tests encode inline. States of pictures no longer shown are dropped after each
//! frame.

use std::collections::HashMap;
use std::sync::mpsc;
use std::sync::Arc;

use image::{DynamicImage, RgbImage};
use ratatui::layout::{Rect, Size};
use ratatui::Frame;
use ratatui_image::picker::Picker;
use ratatui_image::protocol::StatefulProtocol;
use ratatui_image::{FilterType, Resize, ResizeEncodeRender, StatefulImage};

/// Which picture: identity by the `Arc`'s address, which stays valid while the entry holds it.
type Key = usize;

fn resize() -> Resize {
    Resize::Scale(Some(FilterType::Triangle))
}

/// A picture encoded for a size, from the worker.
pub struct Encoded {
    key: Key,
    protocol: StatefulProtocol,
}

struct Entry {
    /// Held so that the key (the picture's address) cannot be reused by another picture.
    _picture: Arc<RgbImage>,
    /// The protocol, encoded for some size (`None` while the worker holds the only copy).
    protocol: Option<StatefulProtocol>,
    /// The size asked of the worker, until its answer comes.
    pending: Option<Size>,
}

pub struct Images {
    picker: Picker,
    states: HashMap<Key, Entry>,
    drawn: Vec<Key>,
    /// Requests to the encoding worker; `None`: encode while drawing.
    worker: Option<mpsc::Sender<(Key, Size, StatefulProtocol)>>,
}

impl Images {
    /// Encodes while drawing (tests, and anything without an event loop).
    pub fn new(picker: Picker) -> Images {
        Images {
            picker,
            states: HashMap::new(),
            drawn: Vec::new(),
            worker: None,
        }
    }

    /// Encodes on a worker thread that sends each finished picture to `done`; pass what
    /// arrives there to [`Images::install`] and redraw.
    pub fn threaded(picker: Picker, done: tokio::sync::mpsc::Sender<Encoded>) -> Images {
        let (tx, rx) = mpsc::channel::<(Key, Size, StatefulProtocol)>();
        let spawned = std::thread::Builder::new()
            .name("convscope-images".into())
            .spawn(move || {
                for (key, size, mut protocol) in rx {
                    protocol.resize_encode(&resize(), size);
                    if done.blocking_send(Encoded { key, protocol }).is_err() {
                        return;
                    }
                }
            });
        let mut images = Images::new(picker);
        images.worker = spawned.is_ok().then_some(tx);
        images
    }

    /// The protocol's name as shown in the header.
    pub fn protocol(&self) -> &'static str {
        crate::term::protocol_name(self.picker.protocol_type())
    }

    /// Takes a picture the worker encoded.
    pub fn install(&mut self, e: Encoded) {
        if let Some(entry) = self.states.get_mut(&e.key) {
            entry.protocol = Some(e.protocol);
            entry.pending = None;
        }
    }

    /// Draws `picture` scaled to fill `area` (keeping its aspect ratio), centred.
    pub fn draw(&mut self, f: &mut Frame, area: Rect, picture: &Arc<RgbImage>) {
        if area.width == 0 || area.height == 0 {
            return;
        }
        let key = Arc::as_ptr(picture) as usize;
        self.drawn.push(key);
        let picker = &self.picker;
        let entry = self.states.entry(key).or_insert_with(|| Entry {
            _picture: picture.clone(),
            protocol: Some(
                picker.new_resize_protocol(DynamicImage::ImageRgb8((**picture).clone())),
            ),
            pending: None,
        });
        let Some(protocol) = entry.protocol.as_mut() else {
            return; // being encoded
        };
        let size = protocol.size_for(resize(), area.into());
        let centred = Rect {
            x: area.x + (area.width.saturating_sub(size.width)) / 2,
            y: area.y + (area.height.saturating_sub(size.height)) / 2,
            width: size.width.min(area.width),
            height: size.height.min(area.height),
        };
        if let (Some(worker), Some(needed)) = (
            &self.worker,
            protocol.needs_resize(&resize(), centred.into()),
        ) {
            if entry.pending != Some(needed) {
                let protocol = entry.protocol.take().expect("checked above");
                entry.pending = Some(needed);
                if let Err(mpsc::SendError((_, _, protocol))) = worker.send((key, needed, protocol))
                {
                    // The worker is gone: encode here.
                    entry.protocol = Some(protocol);
                    entry.pending = None;
                } else {
                    return;
                }
            }
        }
        if let Some(protocol) = entry.protocol.as_mut() {
            f.render_stateful_widget(StatefulImage::new().resize(resize()), centred, protocol);
        }
    }

    /// Forgets the pictures the last frame did not draw.
    pub fn end_frame(&mut self) {
        let drawn = std::mem::take(&mut self.drawn);
        self.states.retain(|k, _| drawn.contains(k));
    }
}
