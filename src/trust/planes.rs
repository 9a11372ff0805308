//! A prepared input on the host, addressed by pixel: the perturbation metrics replace whole
//! pixels (every channel of one place) whatever the model's layout.

use candle_core::Tensor;

use crate::error::Result;
use crate::input::preprocess::{InputSpec, Layout};

/// The values of one input (batch 1) in the model's layout, `spec.shape(1)` in C order.
#[derive(Clone, Debug, PartialEq)]
pub struct Planes {
    pub spec: InputSpec,
    pub data: Vec<f32>,
}

impl Planes {
    /// A prepared batch-1 input tensor, copied to the host.
    pub fn of(tensor: &Tensor, spec: InputSpec) -> Result<Planes> {
        let data: Vec<f32> = tensor.flatten_all()?.to_vec1()?;
        debug_assert_eq!(data.len(), spec.shape(1).iter().product::<usize>());
        Ok(Planes { spec, data })
    }

    /// All zeros: the origin of the model's input space (what RISE's deletion puts in).
    pub fn zeros(spec: InputSpec) -> Planes {
        let len = spec.channels * spec.height * spec.width;
        Planes {
            spec,
            data: vec![0.0; len],
        }
    }

    /// H·W: the number of places a ranking orders.
    pub fn pixels(&self) -> usize {
        self.spec.height * self.spec.width
    }

    /// Where channel `c` of pixel `p` (row-major over H×W) is stored.
    pub fn index(&self, c: usize, p: usize) -> usize {
        match self.spec.layout {
            Layout::Nchw => c * self.pixels() + p,
            Layout::Nhwc => p * self.spec.channels + c,
        }
    }

    /// Copies every channel of pixel `p` from `from` (same spec).
    pub fn copy_pixel(&mut self, p: usize, from: &Planes) {
        for c in 0..self.spec.channels {
            let i = self.index(c, p);
            self.data[i] = from.data[i];
        }
    }

    /// One channel as an H×W plane, row-major.
    pub fn plane(&self, c: usize) -> Vec<f32> {
        (0..self.pixels())
            .map(|p| self.data[self.index(c, p)])
            .collect()
    }

    /// Writes one channel from an H×W plane.
    pub fn set_plane(&mut self, c: usize, plane: &[f32]) {
        for (p, &v) in plane.iter().enumerate() {
            let i = self.index(c, p);
            self.data[i] = v;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(layout: Layout) -> InputSpec {
        InputSpec {
            layout,
            channels: 3,
            height: 2,
            width: 2,
        }
    }

    #[test]
    fn a_pixel_is_every_channel_of_one_place_in_either_layout() {
        for layout in [Layout::Nchw, Layout::Nhwc] {
            let from = Planes {
                spec: spec(layout),
                data: (1..=12).map(|v| v as f32).collect(),
            };
            let mut to = Planes::zeros(spec(layout));
            to.copy_pixel(1, &from);
            let copied: Vec<usize> = (0..12).filter(|&i| to.data[i] != 0.0).collect();
            let expected = match layout {
                Layout::Nchw => vec![1, 5, 9],
                Layout::Nhwc => vec![3, 4, 5],
            };
            assert_eq!(copied, expected, "{layout:?}");
            for c in 0..3 {
                assert_eq!(to.plane(c)[1], from.plane(c)[1]);
            }
        }
    }
}
