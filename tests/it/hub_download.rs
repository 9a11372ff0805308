//! `hf:ORG/REPO` end to end against the hub's file API served from a loopback server
//! (`HF_ENDPOINT=http://127.0.0.1:PORT`): the revision lookup (`GET …/resolve/main/FILE` with
//! `Range: bytes=0-0`, answered through a relative redirect with `x-repo-commit`, `etag` and
//! `content-range`, the headers hf-hub reads), a 404 for `model.safetensors` so that the next
//! weight file is tried, and transfers cut off half way. The download must land in the cache in
//! huggingface_hub's layout, resume a cut transfer, fail cleanly when the link stays bad, resume
//! on the next run, and open.
//!
//! The server answers only this process's requests on 127.0.0.1, and stops by itself.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use assert_cmd::Command;
use predicates::prelude::*;

const COMMIT: &str = "0123456789abcdef0123456789abcdef01234567";
const ETAG: &str = "5e7a0000000000000000000000000000000000000000000000000000000000aa";

struct Hub {
    port: u16,
    stop: Arc<AtomicBool>,
    /// Full-body transfers started so far.
    transfers: Arc<AtomicUsize>,
    /// Transfers are cut off half way while this is set (the link is bad).
    cutting: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Hub {
    fn start(weights: Vec<u8>) -> Hub {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let stop = Arc::new(AtomicBool::new(false));
        let transfers = Arc::new(AtomicUsize::new(0));
        let cutting = Arc::new(AtomicBool::new(false));
        let thread = {
            let (stop, transfers, cutting) = (stop.clone(), transfers.clone(), cutting.clone());
            std::thread::spawn(move || {
                let deadline = Instant::now() + Duration::from_secs(300);
                while !stop.load(Ordering::SeqCst) && Instant::now() < deadline {
                    match listener.accept() {
                        Ok((stream, _)) => serve(stream, &weights, &transfers, &cutting),
                        Err(_) => std::thread::sleep(Duration::from_millis(10)),
                    }
                }
            })
        };
        Hub {
            port,
            stop,
            transfers,
            cutting,
            thread: Some(thread),
        }
    }
}

impl Drop for Hub {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// One request on one connection (`Connection: close`).
fn serve(stream: TcpStream, weights: &[u8], transfers: &AtomicUsize, cutting: &AtomicBool) {
    stream.set_nonblocking(false).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut request = String::new();
    if reader.read_line(&mut request).is_err() {
        return;
    }
    let mut range = None;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
            break;
        }
        if let Some(v) = line.to_ascii_lowercase().strip_prefix("range: bytes=") {
            let (a, b) = v.trim().split_once('-').unwrap();
            range = Some((a.parse::<usize>().unwrap(), b.parse::<usize>().ok()));
        }
    }
    let path = request.split_whitespace().nth(1).unwrap_or("/").to_string();
    let mut out = stream;
    let respond = |out: &mut TcpStream, status: &str, headers: &[(&str, String)], body: &[u8]| {
        let mut head = format!("HTTP/1.1 {status}\r\nConnection: close\r\n");
        for (k, v) in headers {
            head += &format!("{k}: {v}\r\n");
        }
        let _ = out.write_all(head.as_bytes());
        let _ = out.write_all(b"\r\n");
        let _ = out.write_all(body);
    };
    match path.as_str() {
        // The repository has no safetensors file.
        "/timm/squeezenet10/resolve/main/model.safetensors" => respond(
            &mut out,
            "404 Not Found",
            &[("Content-Length", "0".into())],
            b"",
        ),
        // The resolve URL redirects (relatively) to where the file is, as the hub does.
        "/timm/squeezenet10/resolve/main/pytorch_model.bin" => respond(
            &mut out,
            "307 Temporary Redirect",
            &[
                ("Location", "/cdn/pytorch_model.bin".into()),
                ("Content-Length", "0".into()),
            ],
            b"",
        ),
        "/cdn/pytorch_model.bin" => {
            let size = weights.len();
            let (start, end) = match range {
                Some((a, Some(b))) => (a, (b + 1).min(size)),
                Some((a, None)) => (a, size),
                None => (0, size),
            };
            let body = &weights[start.min(size)..end];
            let headers = vec![
                ("x-repo-commit", COMMIT.to_string()),
                ("ETag", format!("\"{ETAG}\"")),
                ("Content-Range", format!("bytes {start}-{}/{size}", end - 1)),
                ("Content-Length", body.len().to_string()),
            ];
            let full_transfer = end - start > 1;
            if full_transfer {
                transfers.fetch_add(1, Ordering::SeqCst);
            }
            if full_transfer && cutting.load(Ordering::SeqCst) {
                // A bad link: half the bytes, then the connection drops.
                respond(
                    &mut out,
                    "206 Partial Content",
                    &headers,
                    &body[..body.len() / 2],
                );
                let _ = out.shutdown(std::net::Shutdown::Both);
                return;
            }
            respond(&mut out, "206 Partial Content", &headers, body);
        }
        _ => respond(
            &mut out,
            "404 Not Found",
            &[("Content-Length", "0".into())],
            b"",
        ),
    }
}

fn convscope(hub: &Hub, home: &Path) -> Command {
    let mut c = Command::new(crate::common::e2e_bin());
    c.env("HF_ENDPOINT", format!("http://127.0.0.1:{}", hub.port))
        .env("HF_HOME", home)
        .env_remove("HF_HUB_CACHE")
        .env_remove("HF_HUB_OFFLINE")
        .env_remove("HF_TOKEN")
        .timeout(Duration::from_secs(120));
    c
}

#[test]
fn a_download_lands_in_the_cache_resumes_after_a_cut_and_opens() {
    let weights =
        std::fs::read(crate::common::fixtures().join("checkpoints/squeezenet10.pth")).unwrap();
    let hub = Hub::start(weights.clone());
    let home = tempfile::tempdir().unwrap();
    let repo = home.path().join("hub/models--timm--squeezenet10");

    // While the link cuts every transfer, the download resumes a few times and then gives up
    // with one error line, leaving no file where the weights would be.
    hub.cutting.store(true, Ordering::SeqCst);
    crate::common::expect_error(
        convscope(&hub, home.path())
            .arg("summary")
            .arg("hf:timm/squeezenet10"),
        &["hf:timm/squeezenet10", "could not be downloaded"],
    );
    assert!(!repo
        .join("snapshots")
        .join(COMMIT)
        .join("pytorch_model.bin")
        .exists());
    let part = repo.join("blobs").join(format!("{ETAG}.part"));
    let kept = std::fs::metadata(&part)
        .expect("the partial download is kept for the next run")
        .len();
    assert!(
        kept < weights.len() as u64,
        "the cut transfers left {kept} bytes"
    );
    // hf-hub resumes once more than the retries it is given (its loop counts after trying).
    assert_eq!(
        hub.transfers.load(Ordering::SeqCst),
        5,
        "one try and four resumes"
    );
    // Each resume continued from the partial file: five halvings keep 31/32 of the bytes.
    assert!(
        kept > weights.len() as u64 * 15 / 16,
        "{kept} of {}",
        weights.len()
    );

    // With the link good again, the next run resumes where the cut ones stopped, and the
    // model opens.
    hub.cutting.store(false, Ordering::SeqCst);
    convscope(&hub, home.path())
        .arg("summary")
        .arg("hf:timm/squeezenet10")
        .assert()
        .success()
        .stdout(predicate::str::contains("Total params"))
        .stderr(predicate::str::contains("squeezenet1_1"));
    assert_eq!(hub.transfers.load(Ordering::SeqCst), 6);
    let blob = repo.join("blobs").join(ETAG);
    assert_eq!(
        std::fs::read(&blob).unwrap(),
        weights,
        "the cached blob differs"
    );
    let pointer = repo
        .join("snapshots")
        .join(COMMIT)
        .join("pytorch_model.bin");
    assert_eq!(std::fs::read(&pointer).unwrap(), weights);
    assert_eq!(
        std::fs::read_to_string(repo.join("refs/main"))
            .unwrap()
            .trim(),
        COMMIT
    );

    // Now cached: opens with the hub unreachable.
    drop(hub);
    let mut offline = Command::new(crate::common::e2e_bin());
    offline
        .env("HF_HOME", home.path())
        .env("HF_HUB_OFFLINE", "1")
        .arg("summary")
        .arg("hf:timm/squeezenet10")
        .assert()
        .success();
}
