//! The HTTP API (`vigil serve`), started as a real server on loopback and spoken to over TCP
//! with a minimal HTTP/1.1 client (so that request targets go out exactly as written, which
//! the path-traversal tests need).
//!
//! The fixture: four runs of the mission example job, one per classification, two partner
//! packages (one partner's agreement since expired), and five tokens made with `vigil token new`.

use crate::{repo, vigil};
use serde_json::Value;
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

/// The classifications, lowest first, and the job that holds a run at each.
const LEVELS: [(&str, &str); 4] = [
    ("public", "mission-public"),
    ("unclassified", "mission-unclassified"),
    ("confidential", "mission-confidential"),
    ("strictly_confidential", "mission-strict"),
];

/// A text no response may ever contain: it sits next to the served folders.
const PLANTED: &str = "PLANTED-SECRET-7f3a";

struct Fixture {
    root: PathBuf,
    runs: PathBuf,
    exports: PathBuf,
    agreements: PathBuf,
    tokens_file: PathBuf,
    /// role name → token.
    tokens: BTreeMap<&'static str, String>,
    /// job → run id.
    run_ids: BTreeMap<&'static str, String>,
    /// Packages of the partner with a valid agreement and of the one whose agreement expired.
    alpha_package: String,
    beta_package: String,
}

fn ok(o: &std::process::Output) -> String {
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8_lossy(&o.stdout).trim().to_string()
}

fn write_agreement(dir: &Path, partner: &str, expires: &str) {
    std::fs::write(
        dir.join(format!("{partner}.toml")),
        format!(
            "partner = \"{partner}\"\npurpose = \"API tests\"\nstart = 2020-01-01\nexpires = {expires}\n\
             outputs = [\"panel\"]\nmeasures = [\"events\"]\nlevel = \"admin1\"\ntime_step = \"month\"\nk = 5\n"
        ),
    )
    .unwrap();
}

/// Builds the fixture once per vigil binary, shared by every test process (nextest runs each
/// test in its own): the first takes a file lock and builds, the others wait and reuse it.
fn build_fixture() -> Fixture {
    let bin = Path::new(env!("CARGO_BIN_EXE_vigil"));
    let stamp = std::fs::metadata(bin)
        .and_then(|m| m.modified())
        .unwrap()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let tmp = Path::new(env!("CARGO_TARGET_TMPDIR"));
    let root = tmp.join(format!("api-fixture-{stamp}"));
    let lock = std::fs::File::create(tmp.join("api-fixture.lock")).unwrap();
    lock.lock().unwrap();
    let ready = root.join("ready.json");
    if let Ok(text) = std::fs::read_to_string(&ready) {
        return from_ready(&root, &serde_json::from_str(&text).unwrap());
    }
    // Fixtures of older binaries go.
    for e in std::fs::read_dir(tmp).unwrap().flatten() {
        if e.file_name().to_string_lossy().starts_with("api-fixture-") {
            std::fs::remove_dir_all(e.path()).unwrap();
        }
    }
    let f = make_fixture(&root);
    let record = serde_json::json!({
        "tokens": f.tokens,
        "run_ids": f.run_ids,
        "alpha_package": f.alpha_package,
        "beta_package": f.beta_package,
    });
    std::fs::write(&ready, record.to_string()).unwrap();
    f
}

/// The fixture built by another process.
fn from_ready(root: &Path, v: &Value) -> Fixture {
    let names = |key: &str, list: &[&'static str]| -> BTreeMap<&'static str, String> {
        list.iter()
            .map(|k| (*k, v[key][*k].as_str().unwrap().to_string()))
            .collect()
    };
    Fixture {
        root: root.to_path_buf(),
        runs: root.join("runs"),
        exports: root.join("exports"),
        agreements: root.join("agreements"),
        tokens_file: root.join("tokens.toml"),
        tokens: names("tokens", &["analyst", "analyst_strict", "hq", "alpha", "beta"]),
        run_ids: names("run_ids", &LEVELS.map(|(_, j)| j)),
        alpha_package: v["alpha_package"].as_str().unwrap().to_string(),
        beta_package: v["beta_package"].as_str().unwrap().to_string(),
    }
}

fn make_fixture(root: &Path) -> Fixture {
    let root = root.to_path_buf();
    let runs = root.join("runs");
    let exports = root.join("exports");
    let agreements = root.join("agreements");
    std::fs::create_dir_all(&agreements).unwrap();
    let s = |p: &Path| p.to_str().unwrap().to_string();
    let mut run_ids = BTreeMap::new();
    for (level, job) in LEVELS {
        let out = ok(&vigil(
            &[
                "run",
                "jobs/specs/mission_example.toml",
                "--out",
                &s(&runs),
                "--set",
                &format!("job.name={job}"),
                "--set",
                &format!("inputs.0.classification={level}"),
                "--set",
                "outputs.top_regions=1",
            ],
            &[],
        ));
        let id = Path::new(out.lines().last().unwrap())
            .file_name()
            .unwrap()
            .to_str()
            .unwrap()
            .to_string();
        run_ids.insert(job, id);
    }
    // Packages for two partners, made while both agreements were in force; then beta's expires.
    let public_run = runs.join("mission-public").join(&run_ids["mission-public"]);
    let mut packages = Vec::new();
    for partner in ["alpha", "beta"] {
        write_agreement(&agreements, partner, "2099-12-31");
        let agreement = agreements.join(format!("{partner}.toml"));
        let out = ok(&vigil(
            &[
                "export",
                "--agreement",
                &s(&agreement),
                &s(&public_run),
                "--out",
                &s(&exports),
            ],
            &[],
        ));
        packages.push(Path::new(&out).file_name().unwrap().to_str().unwrap().to_string());
    }
    write_agreement(&agreements, "beta", "2024-06-30");
    // Things that must never be served: a file beside the served folders, and an unlisted
    // file inside a run's charts.
    std::fs::write(root.join("secret.txt"), PLANTED).unwrap();
    std::fs::write(
        public_run.join("charts").join("planted.svg"),
        format!("<svg>{PLANTED}</svg>"),
    )
    .unwrap();

    let tokens_file = root.join("tokens.toml");
    let mut tokens = BTreeMap::new();
    for (name, args) in [
        (
            "analyst",
            &["--role", "analyst", "--clearance", "confidential"][..],
        ),
        (
            "analyst_strict",
            &["--role", "analyst", "--clearance", "strictly_confidential"][..],
        ),
        ("hq", &["--role", "hq"][..]),
        ("alpha", &["--role", "partner:alpha"][..]),
        ("beta", &["--role", "partner:beta"][..]),
    ] {
        let mut a = vec!["token", "new", "--file", tokens_file.to_str().unwrap()];
        a.extend_from_slice(args);
        tokens.insert(name, ok(&vigil(&a, &[])));
    }
    Fixture {
        root,
        runs,
        exports,
        agreements,
        tokens_file,
        tokens,
        run_ids,
        alpha_package: packages[0].clone(),
        beta_package: packages[1].clone(),
    }
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(build_fixture)
}

/// An HTTP response.
struct Resp {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Resp {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).to_string()
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text()))
    }
}

/// Decodes a chunked body.
fn dechunk(mut raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let line_end = raw.windows(2).position(|w| w == b"\r\n").unwrap();
        let size = usize::from_str_radix(
            std::str::from_utf8(&raw[..line_end])
                .unwrap()
                .split(';')
                .next()
                .unwrap()
                .trim(),
            16,
        )
        .unwrap();
        raw = &raw[line_end + 2..];
        if size == 0 {
            return out;
        }
        out.extend_from_slice(&raw[..size]);
        raw = &raw[size + 2..];
    }
}

/// One GET of `target`, exactly as written, with `headers`.
fn request(addr: &str, target: &str, headers: &[(&str, &str)]) -> Resp {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    let mut req = format!("GET {target} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no header end in {:?}", String::from_utf8_lossy(&raw)));
    let head = String::from_utf8_lossy(&raw[..split]).to_string();
    let mut lines = head.lines();
    let status: u16 = lines
        .next()
        .unwrap()
        .split_whitespace()
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    let mut body = raw[split + 4..].to_vec();
    if headers
        .iter()
        .any(|(k, v)| k.eq_ignore_ascii_case("transfer-encoding") && v.contains("chunked"))
    {
        body = dechunk(&body);
    }
    Resp {
        status,
        headers,
        body,
    }
}

/// A running `vigil serve`, stopped when dropped.
struct Server {
    child: Child,
    addr: String,
    log: PathBuf,
}

impl Server {
    fn start(tokens: &Path, extra: &[&str]) -> Server {
        Server::start_on(&fixture().runs, tokens, extra)
    }

    /// A server over another runs folder.
    fn start_on(runs: &Path, tokens: &Path, extra: &[&str]) -> Server {
        let f = fixture();
        let log = f
            .root
            .join(format!("serve-{}-{}.log", std::process::id(), next_number()));
        let mut child = Command::new(env!("CARGO_BIN_EXE_vigil"))
            .current_dir(repo())
            .args(["serve", "--bind", "127.0.0.1:0"])
            .arg("--runs")
            .arg(runs)
            .arg("--exports")
            .arg(&f.exports)
            .arg("--agreements")
            .arg(&f.agreements)
            .arg("--tokens")
            .arg(tokens)
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let addr = line.trim().trim_start_matches("http://").to_string();
        assert!(
            !addr.is_empty(),
            "vigil serve did not start: {}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        Server { child, addr, log }
    }

    fn get(&self, target: &str, token: Option<&str>) -> Resp {
        let auth = token.map(|t| format!("Bearer {t}"));
        let headers: Vec<(&str, &str)> = auth
            .as_deref()
            .map(|a| vec![("Authorization", a)])
            .unwrap_or_default();
        request(&self.addr, target, &headers)
    }

    fn get_with(&self, target: &str, token: &str, headers: &[(&str, &str)]) -> Resp {
        let auth = format!("Bearer {token}");
        let mut all = vec![("Authorization", auth.as_str())];
        all.extend_from_slice(headers);
        request(&self.addr, target, &all)
    }

    /// Stops it with SIGTERM and returns its exit status and log.
    fn stop(mut self) -> (std::process::ExitStatus, String) {
        Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        let status = self.child.wait().unwrap();
        (status, std::fs::read_to_string(&self.log).unwrap())
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A distinct number per call, for log file names of servers started by tests in parallel.
fn next_number() -> usize {
    static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    N.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

/// A copy of the token file, for a test that changes it.
fn own_tokens(name: &str) -> PathBuf {
    let f = fixture();
    let p = f.root.join(format!("tokens-{name}.toml"));
    std::fs::copy(&f.tokens_file, &p).unwrap();
    p
}

/// The classification rank of a level name.
fn rank(level: &str) -> usize {
    LEVELS.iter().position(|(l, _)| *l == level).unwrap()
}

#[test]
fn each_role_reads_only_what_its_clearance_or_agreement_allows() {
    let f = fixture();
    // This test sends many bad tokens on purpose; the limit on failures is its own test.
    let server = Server::start(&f.tokens_file, &["--failed-auth-rate", "1000"]);
    let t = |role: &str| f.tokens[role].clone();
    // The oracle, written out: which run levels each staff role reads (partners read none).
    let cleared: [(&str, usize); 3] = [("analyst", 2), ("analyst_strict", 3), ("hq", 1)];
    let not_found = server.get("/v1/jobs/no-such-job/runs/latest", Some(&t("analyst")));
    assert_eq!(not_found.status, 404);
    let mut cells = 0;
    for (level, job) in LEVELS {
        let id = &f.run_ids[job];
        let resources = [
            format!("/v1/jobs/{job}/runs/{id}"),
            format!("/v1/jobs/{job}/runs/latest"),
            format!("/v1/jobs/{job}/runs/latest/tables"),
            format!("/v1/jobs/{job}/runs/latest/tables/trends"),
            format!("/v1/jobs/{job}/runs/latest/tables/forecasts?horizon=1&format=csv"),
            format!("/v1/jobs/{job}/runs/latest/charts"),
            format!("/v1/jobs/{job}/runs/latest/charts/heatmap.svg"),
            format!("/v1/jobs/{job}/runs/latest/charts/heatmap.png"),
            format!("/v1/jobs/{job}/runs/latest/report"),
        ];
        for target in &resources {
            for (role, clearance) in cleared {
                let r = server.get(target, Some(&t(role)));
                if rank(level) <= clearance {
                    assert_eq!(r.status, 200, "{role} {target}: {}", r.text());
                    if !target.ends_with("/charts") && !target.ends_with("/tables") {
                        assert_eq!(r.header("x-vigil-classification"), Some(level), "{role} {target}");
                    }
                } else {
                    assert_eq!(r.status, 403, "{role} {target}: {}", r.text());
                    let body = r.json();
                    assert!(
                        body["error"]
                            .as_str()
                            .unwrap()
                            .contains(&format!("it is {level}")),
                        "{body}"
                    );
                    assert_eq!(
                        body.as_object().unwrap().len(),
                        2,
                        "nothing but the refusal: {body}"
                    );
                }
                cells += 1;
            }
            // Partners are told nothing: the same 404 as for something that does not exist.
            for role in ["alpha", "beta"] {
                let r = server.get(target, Some(&t(role)));
                assert_eq!(r.status, 404, "{role} {target}");
                assert_eq!(r.body, not_found.body, "{role} {target}");
                cells += 1;
            }
            // No token, or a token altered in its last character.
            assert_eq!(server.get(target, None).status, 401, "{target}");
            let mut bad = t("analyst_strict").into_bytes();
            let last = bad.len() - 1;
            bad[last] = if bad[last] == b'0' { b'1' } else { b'0' };
            let bad = String::from_utf8(bad).unwrap();
            assert_eq!(server.get(target, Some(&bad)).status, 401, "{target}");
            cells += 2;
        }
    }
    // Listings show exactly what reads would serve.
    for (role, clearance) in cleared {
        let jobs = server.get("/v1/jobs", Some(&t(role))).json();
        let names: Vec<&str> = jobs["jobs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|j| j["job"].as_str().unwrap())
            .collect();
        let mut want: Vec<&str> = LEVELS[..=clearance].iter().map(|(_, j)| *j).collect();
        want.sort();
        assert_eq!(names, want, "{role}");
        for (level, job) in LEVELS {
            let runs = server.get(&format!("/v1/jobs/{job}/runs"), Some(&t(role))).json();
            let n = runs["runs"].as_array().unwrap().len();
            assert_eq!(n, usize::from(rank(level) <= clearance), "{role} {job}");
            if n == 1 {
                assert_eq!(runs["runs"][0]["classification"], level);
                assert_eq!(runs["runs"][0]["latest"], true);
            }
        }
    }
    for role in ["alpha", "beta"] {
        let jobs = server.get("/v1/jobs", Some(&t(role))).json();
        assert_eq!(jobs["jobs"].as_array().unwrap().len(), 0, "{role}");
    }

    // Packages: each partner its own, only while its agreement is in force; staff none.
    let pkg = |p: &str| {
        [
            format!("/v1/exports/{p}"),
            format!("/v1/exports/{p}/files/README.md"),
            format!("/v1/exports/{p}/files/events.parquet"),
            format!("/v1/exports/{p}/files/manifest.json"),
        ]
    };
    for target in pkg(&f.alpha_package) {
        assert_eq!(server.get(&target, Some(&t("alpha"))).status, 200, "{target}");
        assert_eq!(server.get(&target, Some(&t("beta"))).status, 404, "{target}");
        for role in ["analyst", "analyst_strict", "hq"] {
            assert_eq!(server.get(&target, Some(&t(role))).status, 403, "{role} {target}");
        }
        cells += 5;
    }
    for target in pkg(&f.beta_package) {
        let r = server.get(&target, Some(&t("beta")));
        assert_eq!(r.status, 403, "{target}");
        assert!(r.text().contains("expired on 2024-06-30"), "{}", r.text());
        assert_eq!(server.get(&target, Some(&t("alpha"))).status, 404, "{target}");
        cells += 2;
    }
    let listed = |role: &str| -> Vec<String> {
        server.get("/v1/exports", Some(&t(role))).json()["packages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["package"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(listed("alpha"), vec![f.alpha_package.clone()]);
    assert!(listed("beta").is_empty(), "an expired agreement lists nothing");
    assert!(listed("hq").is_empty() && listed("analyst_strict").is_empty());
    let readme = server.get(&pkg(&f.alpha_package)[1], Some(&t("alpha")));
    assert!(readme.text().contains("API tests"), "the partner's README");
    // 4 levels × 9 resources × 7 callers, then 4 package resources × 5 and × 2 callers.
    assert_eq!(
        cells,
        4 * 9 * 7 + 4 * 5 + 4 * 2,
        "every cell of the matrix was checked"
    );
}

#[test]
fn bad_tokens_get_401_failed_attempts_are_limited_and_a_revoked_token_stops_at_once() {
    let f = fixture();
    let tokens = own_tokens("revoke");
    let server = Server::start(&tokens, &[]);
    let hq = &f.tokens["hq"];
    assert_eq!(server.get("/v1/jobs", Some(hq)).status, 200);
    let id = hq.split('_').nth(1).unwrap();
    for (bad, why) in [
        ("vgl_0000000000000000_00".to_string(), "unknown id"),
        (format!("vgl_{id}_{}", "0".repeat(64)), "right id, wrong secret"),
        (hq[..hq.len() - 1].to_string(), "cut short"),
        ("nonsense".to_string(), "not a token"),
    ] {
        let r = server.get("/v1/jobs", Some(&bad));
        assert_eq!(r.status, 401, "{why}");
        assert_eq!(r.header("www-authenticate"), Some("Bearer realm=\"vigil\""));
    }
    let basic = request(
        &server.addr,
        "/v1/jobs",
        &[("Authorization", "Basic dXNlcjpwYXNz")],
    );
    assert_eq!(basic.status, 401);
    // Revoking takes effect on the next request, without a restart.
    ok(&vigil(
        &["token", "revoke", id, "--file", tokens.to_str().unwrap()],
        &[],
    ));
    assert_eq!(server.get("/v1/jobs", Some(hq)).status, 401);
    assert_eq!(server.get("/v1/jobs", Some(&f.tokens["analyst"])).status, 200);
    // Failed attempts from one address are limited (5 a second, a burst of 20).
    let statuses: Vec<u16> = (0..40)
        .map(|_| server.get("/v1/jobs", Some("vgl_0_0")).status)
        .collect();
    assert!(statuses.contains(&429), "{statuses:?}");
    assert_eq!(&statuses[..10], [401; 10], "{statuses:?}");
    let (status, log) = server.stop();
    assert!(status.success(), "graceful stop on SIGTERM: {status:?}\n{log}");
    assert!(log.contains("finishing requests under way"), "{log}");
    // The access log names tokens by id, never by secret.
    assert!(log.contains(&format!("token={id}")), "{log}");
    assert!(log.contains("token=rejected:0000000000000000"), "{log}");
    for secret in f.tokens.values() {
        assert!(
            !log.contains(secret.rsplit('_').next().unwrap()),
            "a secret in the log"
        );
    }
}

#[test]
fn path_traversal_and_unlisted_files_are_never_served() {
    let f = fixture();
    let server = Server::start(&f.tokens_file, &[]);
    let strict = &f.tokens["analyst_strict"];
    let alpha = &f.tokens["alpha"];
    let pkg = &f.alpha_package;
    let base = "/v1/jobs/mission-public/runs/latest";
    let attempts = [
        format!("{base}/charts/..%2F..%2F..%2Fsecret.txt"),
        format!("{base}/charts/%2e%2e%2f%2e%2e%2fmanifest.json"),
        format!("{base}/charts/%252e%252e%252fmanifest.json"),
        format!("{base}/charts/..%5C..%5Cmanifest.json"),
        format!("{base}/charts/planted.svg"),
        format!("{base}/charts/.."),
        format!("{base}/charts/%2Fetc%2Fpasswd"),
        format!("{base}/charts/heatmap.svg%00.png"),
        format!("{base}/tables/..%2F..%2Fsecret"),
        format!("{base}/tables/incidents"),
        format!("{base}/tables/quarantine"),
        "/v1/jobs/..%2F..%2F/runs/latest".to_string(),
        "/v1/jobs/../runs/latest".to_string(),
        "/v1/jobs/mission-public/runs/..%2F..%2Fsecret.txt".to_string(),
        "/v1/jobs/mission-public/runs/.tmp-x".to_string(),
        "/v1/jobs/%2e%2e/runs/latest/report".to_string(),
        "/v1/jobs/mission-public/../../secret.txt".to_string(),
        "/../../secret.txt".to_string(),
        "/v1/jobs/mission-public/runs/latest/../../../../secret.txt".to_string(),
    ];
    let package_attempts = [
        format!("/v1/exports/{pkg}/files/..%2F..%2Fsecret.txt"),
        format!("/v1/exports/{pkg}/files/%2e%2e%2f%2e%2e%2ftokens.toml"),
        "/v1/exports/..%2Fruns/files/manifest.json".to_string(),
        "/v1/exports/..%2F..%2F/files/secret.txt".to_string(),
    ];
    for (token, targets) in [(strict, &attempts[..]), (alpha, &package_attempts[..])] {
        for target in targets {
            let r = server.get(target, Some(token));
            assert!(
                [400, 404].contains(&r.status),
                "{target}: {} {}",
                r.status,
                r.text()
            );
            assert!(!r.text().contains(PLANTED), "{target} leaked the planted file");
            assert!(!r.text().contains("sha256"), "{target} leaked a manifest");
        }
    }
    // The unlisted file is on disk, where the real chart beside it is served.
    let run = f.runs.join("mission-public").join(&f.run_ids["mission-public"]);
    assert!(run.join("charts/planted.svg").is_file());
    assert_eq!(
        server
            .get(&format!("{base}/charts/heatmap.svg"), Some(strict))
            .status,
        200
    );
    // Oversized request targets are refused before any work.
    let long = format!("{base}/tables/trends?region={}", "x".repeat(5000));
    assert_eq!(server.get(&long, Some(strict)).status, 414);
}

#[test]
fn tables_are_filtered_paged_and_served_as_json_csv_and_parquet() {
    let f = fixture();
    let server = Server::start(&f.tokens_file, &[]);
    let token = &f.tokens["analyst"];
    let base = "/v1/jobs/mission-confidential/runs/latest/tables";
    let all = server
        .get(&format!("{base}/forecasts?limit=10000"), Some(token))
        .json();
    let rows = all["rows"].as_array().unwrap();
    assert_eq!(all["total"].as_u64().unwrap() as usize, rows.len());
    assert!(rows.len() > 20);
    assert_eq!(all["classification"], "confidential");
    // Columns keep the table's order, in the list and in each row.
    let columns: Vec<&str> = all["columns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap())
        .collect();
    assert_eq!(&columns[..4], ["region_id", "cutoff", "ds", "horizon"]);

    // Filters: an independent count of the rows that should pass.
    let region = rows[0]["region_id"].as_str().unwrap().to_string();
    let want = rows
        .iter()
        .filter(|r| r["region_id"] == region.as_str() && r["horizon"] == 2 && r["model"] == "naive")
        .count();
    assert!(want >= 1);
    let enc = region.replace('/', "%2F").replace(' ', "%20");
    let got = server
        .get(
            &format!("{base}/forecasts?region={enc}&horizon=2&model=naive"),
            Some(token),
        )
        .json();
    assert_eq!(got["total"].as_u64().unwrap() as usize, want);
    for r in got["rows"].as_array().unwrap() {
        assert_eq!(
            (r["region_id"].as_str().unwrap(), r["horizon"].as_i64().unwrap()),
            (region.as_str(), 2)
        );
    }
    let from = server
        .get(
            &format!("{base}/change?from=2021-06&to=2021-08&level=admin1"),
            Some(token),
        )
        .json();
    assert!(from["total"].as_u64().unwrap() > 0);
    for r in from["rows"].as_array().unwrap() {
        let ds = r["ds"].as_str().unwrap();
        assert!(("2021-06-01"..="2021-08-01").contains(&ds), "{ds}");
        assert_eq!(r["level"], "admin1");
    }

    // Pages follow the next links and add up to the whole table, in order.
    let mut target = Some(format!("{base}/forecasts?limit=7"));
    let mut paged = Vec::new();
    while let Some(t) = target {
        let r = server.get(&t, Some(token));
        assert_eq!(r.status, 200);
        assert_eq!(r.header("x-total-count"), Some(rows.len().to_string().as_str()));
        let page = r.json();
        paged.extend(page["rows"].as_array().unwrap().clone());
        target = page["next"].as_str().map(str::to_string);
        if let Some(n) = &target {
            assert_eq!(r.header("link"), Some(format!("<{n}>; rel=\"next\"").as_str()));
        }
    }
    assert_eq!(&paged, rows);

    // CSV and Parquet hold the same rows.
    let default = server.get(&format!("{base}/forecasts?horizon=1"), Some(token));
    assert_eq!(default.header("content-type"), Some("application/json"));
    let csv = server.get_with(
        &format!("{base}/forecasts?horizon=1"),
        token,
        &[("Accept", "text/csv")],
    );
    assert_eq!(csv.header("content-type"), Some("text/csv; charset=utf-8"));
    let text = csv.text();
    assert!(text.starts_with("region_id,cutoff,ds,horizon,model,"), "{text}");
    let h1 = rows.iter().filter(|r| r["horizon"] == 1).count();
    assert_eq!(text.lines().count(), h1 + 1);
    let pq = server.get(&format!("{base}/forecasts?horizon=1&format=parquet"), Some(token));
    assert_eq!(pq.header("content-type"), Some("application/vnd.apache.parquet"));
    assert!(pq.body.windows(20).any(|w| w == b"vigil.classification"));
    assert!(pq.body.windows(12).any(|w| w == b"confidential"));
    use polars::prelude::*;
    let df = ParquetReader::new(std::io::Cursor::new(pq.body.clone()))
        .finish()
        .unwrap();
    assert_eq!(df.height(), h1);
    let hs = df.column("horizon").unwrap().cast(&DataType::Int64).unwrap();
    assert!(hs.i64().unwrap().iter().all(|h| h == Some(1)));

    // Mistakes are named; a format nobody serves is 406.
    let r = server.get(&format!("{base}/trends?horizon=1&regoin=x&limit=0"), Some(token));
    assert_eq!(r.status, 400);
    for part in ["unknown parameter 'regoin'", "limit"] {
        assert!(r.text().contains(part), "{}", r.text());
    }
    let r = server.get(&format!("{base}/trends?horizon=1"), Some(token));
    assert_eq!(r.status, 400);
    assert!(
        r.text().contains("'horizon' does not apply to table trends"),
        "{}",
        r.text()
    );
    let r = server.get_with(&format!("{base}/trends"), token, &[("Accept", "image/png")]);
    assert_eq!(r.status, 406);
    assert_eq!(
        server.get(&format!("{base}/no-such-table"), Some(token)).status,
        404
    );
}

#[test]
fn the_openapi_document_lists_exactly_the_routes_and_each_answers() {
    let f = fixture();
    let server = Server::start(&f.tokens_file, &[]);
    let doc = server.get("/openapi.json", None).json();
    assert_eq!(doc["openapi"], "3.1.0");
    let documented: Vec<&str> = doc["paths"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    let mut routed = vigil_api::paths();
    routed.sort();
    assert_eq!(documented, routed);
    for path in documented {
        let op = &doc["paths"][path]["get"];
        assert!(
            op["summary"].is_string() && op["responses"]["200"].is_object(),
            "{path}"
        );
        // Every parameter the path names is described.
        for name in path.split('{').skip(1).map(|s| s.split('}').next().unwrap()) {
            assert!(
                op["parameters"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|p| p["name"] == name && p["in"] == "path"),
                "{path}: {name}"
            );
        }
        let target = path
            .replace("{job}", "mission-public")
            .replace("{run}", "latest")
            .replace("{table}", "trends")
            .replace("{chart}", "heatmap.svg")
            .replace("{package}", &f.alpha_package)
            .replace("{file}", "README.md");
        let token = if path.starts_with("/v1/exports") {
            &f.tokens["alpha"]
        } else {
            &f.tokens["analyst"]
        };
        let r = server.get(&target, Some(token));
        assert_eq!(r.status, 200, "{target}: {}", r.text());
    }
    // An undocumented path is not served.
    assert_eq!(server.get("/v1/secrets", Some(&f.tokens["analyst"])).status, 404);
    assert_eq!(server.get("/health", None).json()["status"], "ok");
}

#[test]
fn each_token_has_its_own_rate_limit() {
    let f = fixture();
    let server = Server::start(&f.tokens_file, &["--rate", "1", "--burst", "3"]);
    let hq = &f.tokens["hq"];
    let statuses: Vec<u16> = (0..6).map(|_| server.get("/v1/jobs", Some(hq)).status).collect();
    assert_eq!(&statuses[..3], [200, 200, 200], "{statuses:?}");
    assert!(statuses[3..].contains(&429), "{statuses:?}");
    let r = server.get("/v1/jobs", Some(hq));
    assert_eq!(r.status, 429);
    let wait: u64 = r.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=2).contains(&wait), "{wait}");
    // Another token is not slowed by the first.
    assert_eq!(server.get("/v1/jobs", Some(&f.tokens["analyst"])).status, 200);
}

#[test]
fn a_file_changed_after_its_run_is_refused_not_served() {
    let f = fixture();
    let runs = f.root.join("runs-tampered");
    let job = runs.join("mission-public");
    let id = &f.run_ids["mission-public"];
    std::fs::create_dir_all(job.join(id).join("charts")).unwrap();
    let from = f.runs.join("mission-public").join(id);
    for file in [
        "manifest.json",
        "trend.parquet",
        "charts/heatmap.svg",
        "charts/trends.svg",
    ] {
        std::fs::copy(from.join(file), job.join(id).join(file)).unwrap();
    }
    let svg = job.join(id).join("charts/heatmap.svg");
    let text = std::fs::read_to_string(&svg).unwrap();
    std::fs::write(&svg, text.replacen("PUBLIC", "PUBLIK", 1)).unwrap();
    let server = Server::start_on(&runs, &f.tokens_file, &[]);
    let token = &f.tokens["analyst"];
    let base = format!("/v1/jobs/mission-public/runs/{id}");
    let r = server.get(&format!("{base}/charts/heatmap.svg"), Some(token));
    assert_eq!(r.status, 500, "{}", r.text());
    assert!(r.text().contains("does not match its manifest"), "{}", r.text());
    assert!(!r.text().contains("PUBLIK"));
    assert_eq!(
        server
            .get(&format!("{base}/charts/trends.svg"), Some(token))
            .status,
        200
    );
    assert_eq!(
        server.get(&format!("{base}/tables/trends"), Some(token)).status,
        200
    );
    let (_, log) = server.stop();
    assert!(
        log.contains("heatmap.svg does not match the sha256 in its manifest"),
        "{log}"
    );
}
