//! The picture options of `render` (colormap, alpha, overlay, …), parsed into
//! [`imaging::picture::Look`](crate::engine::picture::Look).

pub use crate::engine::picture::Look;
use crate::error::Result;
use crate::imaging::png::parse_size;

#[derive(clap::Args, Debug, Clone)]
pub struct LookArgs {
    /// Colormap: jet, turbo, viridis, inferno or gray.
    #[arg(long, default_value = "jet", help_heading = "Picture")]
    pub colormap: String,
    /// Opacity of a CAM over the input image, 0 to 1.
    #[arg(
        long,
        default_value_t = 0.5,
        allow_negative_numbers = true,
        help_heading = "Picture"
    )]
    pub alpha: f32,
    /// Show attributions signed (blue negative, red positive) instead of max |·|.
    #[arg(long, help_heading = "Picture")]
    pub signed: bool,
    /// Draw a CAM alone, not over the input image.
    #[arg(long, help_heading = "Picture")]
    pub no_overlay: bool,
    /// Grids (filters, features): one scale for all tiles instead of one per tile (with
    /// `features --layers`: one scale per layer).
    #[arg(long, help_heading = "Picture")]
    pub shared_scale: bool,
    /// Output size WIDTHxHEIGHT [default: the model's input size; grids: their natural size].
    #[arg(long, help_heading = "Picture")]
    pub size: Option<String>,
}

impl LookArgs {
    pub fn look(&self) -> Result<Look> {
        if !(0.0..=1.0).contains(&self.alpha) {
            return Err(crate::Error::Usage(format!(
                "--alpha {} must be between 0 and 1",
                self.alpha
            )));
        }
        Ok(Look {
            shared_scale: self.shared_scale,
            colormap: self.colormap.parse()?,
            alpha: self.alpha,
            signed: self.signed,
            overlay: !self.no_overlay,
            overlay_attribution: false,
            size: self.size.as_deref().map(parse_size).transpose()?,
        })
    }
}
