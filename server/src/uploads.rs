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
/// The most pixels an image may declare (an A4 page scanned at 600 dpi is 35 million; a
/// 48-megapixel photo fits too). Checked from the header, before anything is decoded.
pub const MAX_PIXELS: u64 = 50_000_000;
/// The longest side an image may declare, in pixels.
pub const MAX_SIDE: u32 = 16_384;
/// What one decode may allocate (a 50-megapixel RGB image is 150 MB).
const MAX_DECODE_BYTES: u64 = 256 << 20;
/// The most entries a zip of evidence may list.
const ZIP_MAX_ENTRIES: usize = 10_000;
/// What a zip of evidence may declare to inflate to, all entries together.
const ZIP_MAX_INFLATED: u64 = 1 << 30;
/// The highest inflation ratio of one entry: beyond it the entry is a bomb, not a document.
const ZIP_MAX_RATIO: u64 = 200;

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
    if kind == Kind::Zip {
        check_zip(&bytes)?;
    }
    if !kind.is_image() {
        return Ok((kind, bytes));
    }
    let img = decode(&bytes)?;
    if bytes.len() <= IMAGE_TARGET_BYTES {
        return Ok((kind, bytes));
    }
    Ok((Kind::Jpg, compress(img)?))
}

fn broken_image() -> ApiError {
    ApiError::unprocessable(
        "broken_image",
        "图片已损坏或无法识别，请重新拍摄或导出后上传",
    )
}

/// Decodes an image whose header declares a size within [`MAX_PIXELS`] and [`MAX_SIDE`], with
/// the decoder's own memory limit; decoding proves the image is whole.
fn decode(bytes: &[u8]) -> ApiResult<image::DynamicImage> {
    let reader = || {
        image::ImageReader::new(Cursor::new(bytes))
            .with_guessed_format()
            .map_err(|_| broken_image())
    };
    let (w, h) = reader()?.into_dimensions().map_err(|_| broken_image())?;
    if u64::from(w) * u64::from(h) > MAX_PIXELS || w > MAX_SIDE || h > MAX_SIDE {
        return Err(ApiError::unprocessable(
            "image_too_large",
            format!(
                "图片尺寸过大（{w}×{h} 像素），最多 {} 万像素、单边 {MAX_SIDE} 像素，请缩小后上传",
                MAX_PIXELS / 10_000
            ),
        ));
    }
    let mut r = reader()?;
    let mut limits = image::Limits::default();
    limits.max_image_width = Some(MAX_SIDE);
    limits.max_image_height = Some(MAX_SIDE);
    limits.max_alloc = Some(MAX_DECODE_BYTES);
    r.limits(limits);
    r.decode().map_err(|e| match e {
        image::ImageError::Limits(_) => {
            ApiError::unprocessable("image_too_large", "图片过大，无法处理，请缩小后上传")
        }
        _ => broken_image(),
    })
}

/// Checks a zip of evidence by its directory, inflating nothing: a readable archive, a
/// bounded number of entries and declared size, no entry inflating like a bomb, and no path
/// that would land outside the folder a reviewer unpacks it into.
fn check_zip(bytes: &[u8]) -> ApiResult<()> {
    let refuse =
        |why: &str| ApiError::unprocessable("unsafe_zip", format!("压缩包无法接受：{why}"));
    let mut zip = zip::ZipArchive::new(Cursor::new(bytes))
        .map_err(|_| refuse("文件已损坏或不是有效的 zip 文件"))?;
    if zip.len() > ZIP_MAX_ENTRIES {
        return Err(refuse(&format!("文件数超过 {ZIP_MAX_ENTRIES} 个")));
    }
    let mut total: u64 = 0;
    for i in 0..zip.len() {
        let entry = zip.by_index_raw(i).map_err(|_| refuse("目录已损坏"))?;
        if entry.enclosed_name().is_none() {
            return Err(refuse("包含不安全的文件路径"));
        }
        let (size, packed) = (entry.size(), entry.compressed_size().max(1));
        if size / packed > ZIP_MAX_RATIO && size > 1 << 20 {
            return Err(refuse("包含异常的高压缩率文件"));
        }
        total = total.saturating_add(size);
    }
    if total > ZIP_MAX_INFLATED {
        return Err(refuse("解压后超过 1 GB"));
    }
    Ok(())
}

/// Re-encodes an image as JPEG, lowering the size and then the quality until it fits in
/// [`IMAGE_TARGET_BYTES`], never below [`MIN_LONG_SIDE`] pixels or quality 50. Returns the
/// smallest attempt if none fits.
pub fn compress(img: image::DynamicImage) -> ApiResult<Vec<u8>> {
    let rgb = image::DynamicImage::ImageRgb8(img.into_rgb8());
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

    fn zip_of(entries: &[(&str, &[u8])]) -> Vec<u8> {
        use std::io::Write;
        let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
        for (name, data) in entries {
            w.start_file(*name, zip::write::SimpleFileOptions::default())
                .unwrap();
            w.write_all(data).unwrap();
        }
        w.finish().unwrap().into_inner()
    }

    #[test]
    fn zips_are_checked_by_their_directory() {
        // A path leaving the folder it is unpacked into.
        let e = accept("evidence", zip_of(&[("../../etc/cron.d/x", b"x")])).unwrap_err();
        assert_eq!(e.body.code, "unsafe_zip");
        assert!(e.body.message.contains("路径"), "{}", e.body.message);
        // 64 MB of zeros packs into about 64 KB: a bomb, refused without inflating it.
        let zeros = vec![0u8; 64 << 20];
        let e = accept("evidence", zip_of(&[("a.bin", &zeros)])).unwrap_err();
        assert_eq!(e.body.code, "unsafe_zip");
        assert!(e.body.message.contains("压缩率"), "{}", e.body.message);
        // Ordinary documents pass.
        let text = "情况说明：".repeat(2000);
        assert_eq!(
            accept(
                "evidence",
                zip_of(&[
                    ("说明.txt", text.as_bytes()),
                    ("照片/1.jpg", b"\xFF\xD8\xFF")
                ])
            )
            .unwrap()
            .0,
            Kind::Zip
        );
    }

    /// A PNG that declares `w`×`h` pixels (its header only, and a body no decoder needs).
    fn png_header(w: u32, h: u32) -> Vec<u8> {
        let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
        let mut ihdr = b"IHDR".to_vec();
        ihdr.extend(w.to_be_bytes());
        ihdr.extend(h.to_be_bytes());
        ihdr.extend([8, 2, 0, 0, 0]);
        out.extend(13u32.to_be_bytes());
        out.extend(&ihdr);
        out.extend(crc32(&ihdr).to_be_bytes());
        for chunk in [&b"IDAT"[..], b"IEND"] {
            out.extend(0u32.to_be_bytes());
            out.extend(chunk);
            out.extend(crc32(chunk).to_be_bytes());
        }
        out
    }

    fn crc32(data: &[u8]) -> u32 {
        let mut crc = 0xFFFF_FFFFu32;
        for b in data {
            crc ^= u32::from(*b);
            for _ in 0..8 {
                crc = if crc & 1 == 1 {
                    (crc >> 1) ^ 0xEDB8_8320
                } else {
                    crc >> 1
                };
            }
        }
        !crc
    }

    #[test]
    fn images_are_refused_by_their_declared_size_before_decoding() {
        let e = accept("image", png_header(12_000, 12_000)).unwrap_err();
        assert_eq!(e.body.code, "image_too_large");
        assert!(e.body.message.contains("12000×12000"), "{}", e.body.message);
        assert_eq!(
            accept("image", png_header(20_000, 10))
                .unwrap_err()
                .body
                .code,
            "image_too_large"
        );
        // Within the limits, the same header without pixel data is a broken image.
        assert_eq!(
            accept("image", png_header(100, 100)).unwrap_err().body.code,
            "broken_image"
        );
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
            accept("evidence", zip_of(&[("证明.txt", b"ok")]))
                .unwrap()
                .0,
            Kind::Zip
        );
        // A zip header with garbage behind it is not an archive.
        assert_eq!(
            accept("evidence", b"PK\x03\x04rest".to_vec())
                .unwrap_err()
                .body
                .code,
            "unsafe_zip"
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
