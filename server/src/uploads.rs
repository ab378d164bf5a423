//! Uploads (SPEC.md 6.3): the type is decided by the content's magic bytes, never the file
//! name; images are png or jpg, evidence may also be mp3, mp4 or zip, at most 20 MB; an image
//! over 300 KB is re-encoded (downscaled, JPEG) until it fits while staying legible. Files live
//! under `<data_dir>/uploads/`, named by a random id, with their SHA-256 in the database.

use std::io::Cursor;

use crate::error::{ApiError, ApiResult};

/// Largest upload accepted, before any compression.
pub const MAX_BYTES: usize = 20 << 20;
/// Images above this size are compressed.
pub const IMAGE_TARGET_BYTES: usize = 300 << 10;
/// A compressed image keeps at least this many pixels on its longer side (an A4 page at about
/// 100 dpi: printed text and stamps stay legible).
const MIN_LONG_SIDE: u32 = 1200;
const MAX_LONG_SIDE: u32 = 2400;

/// A recognised content type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Png,
    Jpg,
    Mp3,
    Mp4,
    Zip,
}

impl Kind {
    pub fn ext(self) -> &'static str {
        match self {
            Kind::Png => "png",
            Kind::Jpg => "jpg",
            Kind::Mp3 => "mp3",
            Kind::Mp4 => "mp4",
            Kind::Zip => "zip",
        }
    }
    pub fn mime(self) -> &'static str {
        match self {
            Kind::Png => "image/png",
            Kind::Jpg => "image/jpeg",
            Kind::Mp3 => "audio/mpeg",
            Kind::Mp4 => "video/mp4",
            Kind::Zip => "application/zip",
        }
    }
    pub fn is_image(self) -> bool {
        matches!(self, Kind::Png | Kind::Jpg)
    }
    pub fn from_ext(s: &str) -> Option<Kind> {
        Some(match s {
            "png" => Kind::Png,
            "jpg" | "jpeg" => Kind::Jpg,
            "mp3" => Kind::Mp3,
            "mp4" => Kind::Mp4,
            "zip" => Kind::Zip,
            _ => return None,
        })
    }
}

/// The type of `bytes` by their magic numbers.
pub fn sniff(bytes: &[u8]) -> Option<Kind> {
    if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        Some(Kind::Png)
    } else if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        Some(Kind::Jpg)
    } else if bytes.starts_with(b"ID3")
        || (bytes.len() > 2 && bytes[0] == 0xFF && (bytes[1] & 0xE0) == 0xE0)
    {
        Some(Kind::Mp3)
    } else if bytes.len() > 11 && &bytes[4..8] == b"ftyp" {
        Some(Kind::Mp4)
    } else if bytes.starts_with(b"PK\x03\x04") {
        Some(Kind::Zip)
    } else {
        None
    }
}

/// Checks an upload of `purpose` ("image" or "evidence") and compresses a large image.
/// Returns the stored bytes and their type.
pub fn accept(purpose: &str, bytes: Vec<u8>) -> ApiResult<(Kind, Vec<u8>)> {
    if bytes.is_empty() {
        return Err(ApiError::unprocessable("empty_upload", "文件为空"));
    }
    if bytes.len() > MAX_BYTES {
        return Err(ApiError::new(
            poem::http::StatusCode::PAYLOAD_TOO_LARGE,
            "upload_too_large",
            "文件不能超过 20 MB",
        ));
    }
    let kind = sniff(&bytes);
    let kind = match (purpose, kind) {
        ("image", Some(k)) if k.is_image() => k,
        ("image", _) => {
            return Err(ApiError::unprocessable(
                "unsupported_upload",
                "只能上传 png 或 jpg 格式的图片（按文件内容识别）",
            ))
        }
        (_, Some(k)) => k,
        (_, None) => {
            return Err(ApiError::unprocessable(
                "unsupported_upload",
                "只能上传 png、jpg、mp3、mp4 或 zip 文件（按文件内容识别）",
            ))
        }
    };
    if !kind.is_image() {
        return Ok((kind, bytes));
    }
    // Decoding proves the image is whole.
    let img = image::load_from_memory(&bytes).map_err(|_| {
        ApiError::unprocessable(
            "broken_image",
            "图片已损坏或无法识别，请重新拍摄或导出后上传",
        )
    })?;
    if bytes.len() <= IMAGE_TARGET_BYTES {
        return Ok((kind, bytes));
    }
    Ok((Kind::Jpg, compress(&img)?))
}

/// Re-encodes an image as JPEG, lowering the size and then the quality until it fits in
/// [`IMAGE_TARGET_BYTES`], never below [`MIN_LONG_SIDE`] pixels or quality 50. Returns the
/// smallest attempt if none fits.
pub fn compress(img: &image::DynamicImage) -> ApiResult<Vec<u8>> {
    let rgb = image::DynamicImage::ImageRgb8(img.to_rgb8());
    let long = rgb.width().max(rgb.height());
    let mut best: Option<Vec<u8>> = None;
    // The sizes to try: as large as allowed first, then smaller, never below the minimum.
    let first = long.min(MAX_LONG_SIDE);
    let mut sides: Vec<u32> = vec![first];
    sides.extend([1800, MIN_LONG_SIDE].into_iter().filter(|s| *s < first));
    for side in sides {
        let scaled = if long > side {
            rgb.resize(side, side, image::imageops::FilterType::Triangle)
        } else {
            rgb.clone()
        };
        for quality in [85u8, 70, 60, 50] {
            let mut out = Cursor::new(Vec::new());
            let enc = image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, quality);
            scaled.write_with_encoder(enc).map_err(ApiError::internal)?;
            let out = out.into_inner();
            if out.len() <= IMAGE_TARGET_BYTES {
                return Ok(out);
            }
            if best.as_ref().is_none_or(|b| out.len() < b.len()) {
                best = Some(out);
            }
        }
    }
    Ok(best.unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn noisy(w: u32, h: u32) -> image::DynamicImage {
        // Text-like noise: hard to compress, like a photographed stamped page.
        let mut state = 12345u32;
        image::DynamicImage::ImageRgb8(image::RgbImage::from_fn(w, h, |x, y| {
            state = state.wrapping_mul(1_103_515_245).wrapping_add(12345);
            // Lines of "text": short strokes on every third band of rows.
            let ink = ((y / 12) % 3 == 0 && (x / 5 + y) % 7 < 3) as u8 * 180;
            let n = (state >> 24) as u8 / 32;
            image::Rgb([255 - ink - n, 250 - ink - n, 245 - ink - n])
        }))
    }

    fn png(img: &image::DynamicImage) -> Vec<u8> {
        let mut out = Cursor::new(Vec::new());
        img.write_to(&mut out, image::ImageFormat::Png).unwrap();
        out.into_inner()
    }

    #[test]
    fn content_decides_the_type() {
        assert_eq!(sniff(b"\x89PNG\r\n\x1a\nrest"), Some(Kind::Png));
        assert_eq!(sniff(&[0xFF, 0xD8, 0xFF, 0xE0]), Some(Kind::Jpg));
        assert_eq!(sniff(b"ID3\x04rest"), Some(Kind::Mp3));
        assert_eq!(sniff(b"\0\0\0\x18ftypmp42rest"), Some(Kind::Mp4));
        assert_eq!(sniff(b"PK\x03\x04rest"), Some(Kind::Zip));
        assert_eq!(sniff(b"%PDF-1.7"), None);
        // A zip named .png is still a zip: refused as an image, accepted as evidence.
        assert_eq!(
            accept("image", b"PK\x03\x04rest".to_vec())
                .unwrap_err()
                .body
                .code,
            "unsupported_upload"
        );
        assert_eq!(
            accept("evidence", b"PK\x03\x04rest".to_vec()).unwrap().0,
            Kind::Zip
        );
        assert_eq!(
            accept("evidence", b"%PDF".to_vec()).unwrap_err().body.code,
            "unsupported_upload"
        );
        assert_eq!(
            accept("image", Vec::new()).unwrap_err().body.code,
            "empty_upload"
        );
        // A PNG header with garbage behind it is not an image.
        assert_eq!(
            accept("image", b"\x89PNG\r\n\x1a\ngarbage".to_vec())
                .unwrap_err()
                .body
                .code,
            "broken_image"
        );
        assert_eq!(
            accept("evidence", vec![b'P'; MAX_BYTES + 1])
                .unwrap_err()
                .body
                .code,
            "upload_too_large"
        );
    }

    #[test]
    fn small_images_are_kept_and_large_ones_compressed_but_legible() {
        let small = png(&noisy(200, 100));
        assert!(small.len() <= IMAGE_TARGET_BYTES);
        let (kind, kept) = accept("image", small.clone()).unwrap();
        assert_eq!((kind, kept), (Kind::Png, small));

        let big = png(&noisy(2000, 1400));
        assert!(
            big.len() > IMAGE_TARGET_BYTES,
            "the sample must be large: {}",
            big.len()
        );
        let (kind, out) = accept("image", big).unwrap();
        assert_eq!(kind, Kind::Jpg);
        assert!(
            out.len() <= IMAGE_TARGET_BYTES,
            "compressed to {} bytes",
            out.len()
        );
        let back = image::load_from_memory(&out).unwrap();
        assert!(
            back.width().max(back.height()) >= MIN_LONG_SIDE,
            "{}x{}",
            back.width(),
            back.height()
        );
        assert_eq!(
            back.width() * 1400 / 2000,
            back.height(),
            "aspect ratio kept"
        );
    }
}
