//! The machine's own ceilings, measured in the same run: the HTTP stack serving a static cached
//! document, and fdatasync of small appends in the data directory.

use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

use reqwest::Method;

use crate::lanes::{Call, Lanes};
use crate::scenarios::{Outcome, drive};

/// Requests per second for `GET /api/almajlis/sectors.json` at `concurrency`, with the same
/// client as the scenarios.
pub async fn http(base: &str, concurrency: usize, duration: Duration) -> f64 {
    let lanes = Lanes::new(base, concurrency);
    lanes.connect_all().await;
    let run = drive("HTTP ceiling", concurrency, duration, move |worker, _| {
        static_op(lanes.clone(), worker)
    })
    .await;
    run.throughput()
}

/// One request for the static, cached document: no authentication, no actor.
pub async fn static_op(lanes: Lanes, worker: usize) -> Outcome {
    let call = Call {
        method: Method::GET,
        path: "/api/almajlis/sectors.json",
        tenant: None,
        key: None,
        json: None,
    };
    lanes
        .send(worker, call)
        .await
        .map_or_else(Outcome::io, |answer| Outcome::status(answer.status))
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
