//! The machine's own ceilings, measured in the same run: the HTTP stack serving a static cached
//! document, and fdatasync of small appends in the data directory.

use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

use reqwest::Client;

use crate::scenarios::{Outcome, drive};

/// Requests per second for `GET /api/almajlis/sectors.json` at `concurrency`.
pub async fn http(client: &Client, base: &str, concurrency: usize, duration: Duration) -> f64 {
    let url = format!("{base}/api/almajlis/sectors.json");
    let client = client.clone();
    let run = drive("HTTP ceiling", concurrency, duration, move |_, _| {
        let (client, url) = (client.clone(), url.clone());
        async move {
            match client.get(&url).send().await {
                Ok(r) => {
                    let status = r.status().as_u16();
                    let _ = r.bytes().await;
                    Outcome::status(status)
                }
                Err(_) => Outcome::io(),
            }
        }
    })
    .await;
    run.throughput()
}

/// fdatasync'ed 256-byte appends per second, one writer, in `dir`.
pub fn disk(dir: &Path, duration: Duration) -> f64 {
    let path = dir.join(".majlis-load-disk-ceiling");
    let Ok(mut file) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
    else {
        return 0.0;
    };
    let record = [b'x'; 255];
    let start = Instant::now();
    let mut count = 0u64;
    while start.elapsed() < duration {
        if file
            .write_all(&record)
            .and_then(|()| file.write_all(b"\n"))
            .and_then(|()| file.sync_data())
            .is_err()
        {
            break;
        }
        count += 1;
    }
    let _ = std::fs::remove_file(&path);
    count as f64 / start.elapsed().as_secs_f64()
}
