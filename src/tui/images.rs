//! The pictures on screen, through ratatui-image: one protocol state per shown picture, built
//! when the picture first shows and re-encoded by ratatui-image only when its area changes.
//! States of pictures no longer shown are dropped after each frame.

use std::collections::HashMap;
use std::sync::Arc;

use image::{DynamicImage, RgbImage};
use ratatui::layout::Rect;
use ratatui::Frame;
use ratatui_image::picker::Picker;
use ratatui_image::protocol::StatefulProtocol;
use ratatui_image::{FilterType, Resize, StatefulImage};

/// Which picture: identity by the `Arc`'s address, which lives as long as the state holds it.
type Key = usize;

pub struct Images {
    picker: Picker,
    states: HashMap<Key, (Arc<RgbImage>, StatefulProtocol)>,
    drawn: Vec<Key>,
}

impl Images {
    pub fn new(picker: Picker) -> Images {
        Images {
            picker,
            states: HashMap::new(),
            drawn: Vec::new(),
        }
    }

    /// The protocol's name as shown in the header.
    pub fn protocol(&self) -> &'static str {
        crate::term::protocol_name(self.picker.protocol_type())
    }

    /// Draws `picture` scaled to fill `area` (keeping its aspect ratio), centred.
    pub fn draw(&mut self, f: &mut Frame, area: Rect, picture: &Arc<RgbImage>) {
        if area.width == 0 || area.height == 0 {
            return;
        }
        let key = Arc::as_ptr(picture) as usize;
        let picker = &self.picker;
        let (_, state) = self.states.entry(key).or_insert_with(|| {
            let img = DynamicImage::ImageRgb8((**picture).clone());
            (picture.clone(), picker.new_resize_protocol(img))
        });
        let resize = Resize::Scale(Some(FilterType::Triangle));
        let size = state.size_for(resize.clone(), area.into());
        let centred = Rect {
            x: area.x + (area.width.saturating_sub(size.width)) / 2,
            y: area.y + (area.height.saturating_sub(size.height)) / 2,
            width: size.width.min(area.width),
            height: size.height.min(area.height),
        };
        f.render_stateful_widget(StatefulImage::new().resize(resize), centred, state);
        self.drawn.push(key);
    }

    /// Forgets the pictures the last frame did not draw.
    pub fn end_frame(&mut self) {
        let drawn = std::mem::take(&mut self.drawn);
        self.states.retain(|k, _| drawn.contains(k));
    }
}
