//! End to end: uploads are checked by content (not by name), size-limited, large images are
//! compressed yet legible, and files are served back only to whom they belong — on SQLite and
//! PostgreSQL, with real files in the data directory.

mod support;

use std::io::Cursor;

use serde_json::json;
use sha2::{Digest, Sha256};
use support::app::{spawn_on, AppOptions, Backend};
use support::world::world;

fn page(w: u32, h: u32) -> Vec<u8> {
    let mut state = 7u32;
    let img = image::RgbImage::from_fn(w, h, |x, y| {
        state = state.wrapping_mul(1_103_515_245).wrapping_add(12345);
        let ink = ((y / 12) % 3 == 0 && (x / 5 + y) % 7 < 3) as u8 * 180;
        let n = (state >> 24) as u8 / 32;
        image::Rgb([255 - ink - n, 250 - ink - n, 245 - ink - n])
    });
    let mut out = Cursor::new(Vec::new());
    image::DynamicImage::ImageRgb8(img)
        .write_to(&mut out, image::ImageFormat::Png)
        .unwrap();
    out.into_inner()
}

async fn uploads(backend: Backend) {
    let app = spawn_on(backend, AppOptions::default()).await;
    let w = world(&app, "school").await;

    // A small PNG is kept as it is, on disk, with its hash.
    let small = page(300, 200);
    let r = app
        .post_bytes("/api/v1/uploads", &w.graduate_tok, small.clone())
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        (r.body["content_type"].as_str(), r.body["size"].as_u64()),
        (Some("image/png"), Some(small.len() as u64))
    );
    let sha = hex::encode(Sha256::digest(&small));
    assert_eq!(r.body["sha256"], sha);
    let id = r.body["id"].as_str().unwrap().to_string();
    let on_disk = app
        .data_dir
        .path()
        .join("uploads")
        .join(format!("{id}.png"));
    assert_eq!(std::fs::read(&on_disk).unwrap(), small);

    // Served back to the uploader with its type; nobody else finds it.
    let resp = app
        .client
        .get(app.url(&format!("/api/v1/uploads/{id}")))
        .bearer_auth(&w.graduate_tok)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "image/png");
    assert_eq!(resp.bytes().await.unwrap().to_vec(), small);
    assert_eq!(
        app.get(&format!("/api/v1/uploads/{id}"), &w.school_tok)
            .await
            .status,
        404
    );
    assert_eq!(
        app.get(&format!("/api/v1/uploads/{id}"), &w.employer_tok)
            .await
            .status,
        404
    );
    assert_eq!(
        app.get(&format!("/api/v1/uploads/{id}"), "").await.status,
        401
    );

    // The content decides: a zip is not an image, whatever it is called; as evidence it is fine.
    let zip = support::files::zip_of(&[("证明/情况说明.txt", "单位已注销".as_bytes())]);
    let r = app
        .post_bytes(
            "/api/v1/uploads?purpose=image",
            &w.graduate_tok,
            zip.clone(),
        )
        .await;
    assert_eq!(
        (r.status, r.body["code"].as_str()),
        (422, Some("unsupported_upload")),
        "{}",
        r.text
    );
    let r = app
        .post_bytes("/api/v1/uploads?purpose=evidence", &w.graduate_tok, zip)
        .await;
    assert_eq!(
        (r.status, r.body["content_type"].as_str()),
        (200, Some("application/zip")),
        "{}",
        r.text
    );
    let r = app
        .post_bytes(
            "/api/v1/uploads?purpose=evidence",
            &w.graduate_tok,
            b"%PDF-1.7".to_vec(),
        )
        .await;
    assert_eq!(r.status, 422);
    let r = app
        .post_bytes(
            "/api/v1/uploads?purpose=photo",
            &w.graduate_tok,
            small.clone(),
        )
        .await;
    assert_eq!(
        (r.status, r.body["code"].as_str()),
        (422, Some("invalid_purpose"))
    );
    let mut broken = small[..small.len() / 2].to_vec();
    broken.extend_from_slice(&[0; 16]);
    let r = app
        .post_bytes("/api/v1/uploads", &w.graduate_tok, broken)
        .await;
    assert_eq!(
        (r.status, r.body["code"].as_str()),
        (422, Some("broken_image")),
        "{}",
        r.text
    );

    // A photographed page over 300 KB is stored as a JPEG within 300 KB, still large enough to read.
    let big = page(2000, 1400);
    assert!(big.len() > 300 << 10);
    let r = app
        .post_bytes("/api/v1/uploads", &w.employer_tok, big)
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["content_type"], "image/jpeg");
    assert!(r.body["size"].as_u64().unwrap() <= 300 << 10, "{}", r.text);
    let id = r.body["id"].as_str().unwrap();
    let stored = std::fs::read(
        app.data_dir
            .path()
            .join("uploads")
            .join(format!("{id}.jpg")),
    )
    .unwrap();
    let img = image::load_from_memory(&stored).unwrap();
    assert!(img.width() >= 1200, "{}x{}", img.width(), img.height());

    // Integrator keys do not upload.
    let key = app
        .post("/api/v1/api-keys", &w.school_tok, json!({"name": "k"}))
        .await
        .body["key"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        app.post_bytes("/api/v1/uploads", &key, page(10, 10))
            .await
            .status,
        403
    );
}

crate::both_backends!(uploads);
