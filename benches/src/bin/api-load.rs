//! A steady-rate (open-loop) HTTP load generator for `vigil serve`.
//!
//! `api-load --url http://127.0.0.1:8080/v1/… --token vgl_… --rate 200 --seconds 60`
//! sends GET requests on a fixed schedule (request k is due at start + k / rate) over
//! `--connections` keep-alive connections and measures each latency from the moment the request
//! was *due*, not from when a connection was free to send it, so a server that falls behind shows
//! it in the percentiles (no coordinated omission). Prints throughput, latency percentiles and
//! errors (any status but 200, or a broken connection), as text and as one JSON line.
//!
//! Why by hand: `wrk` measures closed-loop (as fast as it can) and `oha`'s rate mode is not in
//! Debian; this is about a hundred lines on the standard library, with no HTTP client crate.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

struct Args {
    host: String,
    target: String,
    token: Option<String>,
    rate: f64,
    seconds: f64,
    connections: usize,
}

fn parse() -> Result<Args, String> {
    let mut url = None;
    let mut a = Args {
        host: String::new(),
        target: String::new(),
        token: std::env::var("VIGIL_TOKEN").ok(),
        rate: 100.0,
        seconds: 60.0,
        connections: 8,
    };
    let mut it = std::env::args().skip(1);
    while let Some(k) = it.next() {
        let mut val = || it.next().ok_or(format!("{k} needs a value"));
        match k.as_str() {
            "--url" => url = Some(val()?),
            "--token" => a.token = Some(val()?),
            "--rate" => a.rate = val()?.parse().map_err(|_| "--rate: a number".to_string())?,
            "--seconds" => a.seconds = val()?.parse().map_err(|_| "--seconds: a number".to_string())?,
            "--connections" => {
                a.connections = val()?
                    .parse()
                    .map_err(|_| "--connections: a number".to_string())?;
            }
            "-h" | "--help" => {
                return Err(
                    "usage: api-load --url http://HOST:PORT/PATH?QUERY [--token T | VIGIL_TOKEN] \
                            [--rate PER_SECOND (100)] [--seconds S (60)] [--connections N (8)]"
                        .into(),
                );
            }
            other => return Err(format!("unknown option {other} (see --help)")),
        }
    }
    let url = url.ok_or("--url is required (see --help)")?;
    let rest = url
        .strip_prefix("http://")
        .ok_or("--url must start with http://")?;
    let (host, target) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    a.host = host.to_string();
    a.target = if target.is_empty() {
        "/".into()
    } else {
        target.to_string()
    };
    if a.rate <= 0.0 || a.seconds <= 0.0 || a.connections == 0 {
        return Err("--rate, --seconds and --connections must be positive".into());
    }
    Ok(a)
}

/// Reads one HTTP/1.1 response (Content-Length bodies, as vigil sends); returns its status.
fn read_response(r: &mut BufReader<TcpStream>) -> std::io::Result<u16> {
    let mut line = String::new();
    r.read_line(&mut line)?;
    let status = line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("bad status line {line:?}")))?;
    let mut length = 0usize;
    loop {
        line.clear();
        r.read_line(&mut line)?;
        if line == "\r\n" || line.is_empty() {
            break;
        }
        if let Some((k, v)) = line.split_once(':')
            && k.eq_ignore_ascii_case("content-length")
        {
            length = v.trim().parse().unwrap_or(0);
        }
    }
    let mut body = vec![0u8; length];
    r.read_exact(&mut body)?;
    Ok(status)
}

fn main() {
    let a = match parse() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(2);
        }
    };
    let total = (a.rate * a.seconds).round() as u64;
    let request = format!(
        "GET {} HTTP/1.1\r\nHost: {}\r\n{}\r\n",
        a.target,
        a.host,
        a.token
            .as_ref()
            .map(|t| format!("Authorization: Bearer {t}\r\n"))
            .unwrap_or_default()
    );
    let next = Arc::new(AtomicU64::new(0));
    let errors = Arc::new(AtomicU64::new(0));
    let latencies = Arc::new(Mutex::new(Vec::with_capacity(total as usize)));
    let start = Instant::now() + Duration::from_millis(100);
    let workers: Vec<_> = (0..a.connections)
        .map(|_| {
            let (next, errors, latencies) = (next.clone(), errors.clone(), latencies.clone());
            let (host, request, rate) = (a.host.clone(), request.clone(), a.rate);
            std::thread::spawn(move || {
                let mut mine = Vec::new();
                let mut conn: Option<(TcpStream, BufReader<TcpStream>)> = None;
                loop {
                    let k = next.fetch_add(1, Ordering::Relaxed);
                    if k >= total {
                        break;
                    }
                    let due = start + Duration::from_secs_f64(k as f64 / rate);
                    if let Some(wait) = due.checked_duration_since(Instant::now()) {
                        std::thread::sleep(wait);
                    }
                    let result = (|| -> std::io::Result<u16> {
                        if conn.is_none() {
                            let s = TcpStream::connect(&host)?;
                            s.set_nodelay(true)?;
                            let r = BufReader::new(s.try_clone()?);
                            conn = Some((s, r));
                        }
                        let (s, r) = conn
                            .as_mut()
                            .ok_or_else(|| std::io::Error::other("no connection"))?;
                        s.write_all(request.as_bytes())?;
                        read_response(r)
                    })();
                    match result {
                        Ok(200) => mine.push(due.elapsed().as_secs_f64()),
                        Ok(_) => {
                            errors.fetch_add(1, Ordering::Relaxed);
                        }
                        Err(_) => {
                            errors.fetch_add(1, Ordering::Relaxed);
                            conn = None;
                        }
                    }
                }
                if let Ok(mut all) = latencies.lock() {
                    all.extend(mine);
                }
            })
        })
        .collect();
    for w in workers {
        let _ = w.join();
    }
    let elapsed = start.elapsed().as_secs_f64();
    let mut l = latencies.lock().map(|l| l.clone()).unwrap_or_default();
    l.sort_by(f64::total_cmp);
    let pct = |p: f64| {
        if l.is_empty() {
            f64::NAN
        } else {
            l[((p * l.len() as f64).ceil() as usize).clamp(1, l.len()) - 1] * 1000.0
        }
    };
    let errors = errors.load(Ordering::Relaxed);
    let ok = l.len();
    println!(
        "{ok} ok, {errors} errors in {elapsed:.1} s: {:.1} requests/s (asked {:.1}); latency ms p50 {:.2}, p90 {:.2}, p99 {:.2}, max {:.2}",
        ok as f64 / elapsed,
        a.rate,
        pct(0.5),
        pct(0.9),
        pct(0.99),
        pct(1.0)
    );
    println!(
        "{{\"ok\":{ok},\"errors\":{errors},\"seconds\":{elapsed:.3},\"rate_asked\":{},\"throughput\":{:.2},\"p50_ms\":{:.3},\"p90_ms\":{:.3},\"p99_ms\":{:.3},\"max_ms\":{:.3}}}",
        a.rate,
        ok as f64 / elapsed,
        pct(0.5),
        pct(0.9),
        pct(0.99),
        pct(1.0)
    );
    if errors > 0 {
        std::process::exit(1);
    }
}
