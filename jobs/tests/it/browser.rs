//! report.html in a real browser: Debian's headless Chromium, driven over the DevTools protocol.
//!
//! The job test opens the run's report from disk and checks that the page loaded, made no request
//! beyond its own file, had nothing fail, and shows the classification banners; a screenshot and
//! a printed PDF are kept next to the test binary's scratch files for a human to look at. The
//! control test below shows that each of those checks fails on a page that breaks it.
//!
//! Chromium runs with every host name resolved to "not found", so even a page that tried to fetch
//! something would not reach the network; the request is still seen and reported.

use headless_chrome::protocol::cdp::types::Event;
use headless_chrome::protocol::cdp::{Network, Page};
use headless_chrome::{Browser, LaunchOptions};
use std::collections::HashMap;
use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The viewport the page is opened in, in CSS pixels (device scale 1).
const VIEWPORT: (u32, u32) = (1280, 900);

/// What the browser saw while loading one page.
#[derive(Debug)]
pub struct PageVisit {
    /// The page's own `file://` address.
    pub url: String,
    /// Every request the page made, its own document first.
    pub requests: Vec<String>,
    /// Requests that failed or answered with an HTTP error, with Chromium's reason.
    pub failed: Vec<String>,
    /// Uncaught script exceptions and console errors.
    pub errors: Vec<String>,
    /// `document.readyState` once loading settled.
    pub ready_state: String,
    /// The top banner as laid out on the first screen (see [`Banner`]).
    pub top: Option<Banner>,
    /// The bottom banner, after scrolling to the end of the page.
    pub bottom: Option<Banner>,
    /// Inline SVG elements in the page, and how many of them have a non-empty box.
    pub svgs: (u64, u64),
    /// The first screen, as PNG.
    pub screenshot: Vec<u8>,
    /// The page printed to PDF (Chromium's "Save as PDF").
    pub pdf: Vec<u8>,
}

/// A classification banner as the browser laid it out.
#[derive(Debug, serde::Deserialize)]
pub struct Banner {
    /// Its text.
    pub text: String,
    /// Top and bottom edge in viewport pixels.
    pub top: f64,
    /// Bottom edge.
    pub bottom: f64,
    /// Whether the whole box is inside the viewport (to a pixel: layout has sub-pixel edges)
    /// with a non-zero size.
    pub in_viewport: bool,
    /// Whether CSS shows it (display, visibility, opacity).
    pub shown: bool,
    /// Whether the element on top at its centre is the banner itself (not covered).
    pub on_top: bool,
}

impl Banner {
    /// On screen, shown, not covered, and saying `marking`.
    pub fn visible_with(&self, marking: &str) -> bool {
        self.in_viewport && self.shown && self.on_top && self.text == marking
    }
}

/// Chromium's binary: `VIGIL_CHROMIUM`, else `chromium`, `chromium-browser` or `google-chrome`
/// on the PATH.
fn chromium() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("VIGIL_CHROMIUM") {
        return Some(p.into());
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    ["chromium", "chromium-browser", "google-chrome"]
        .iter()
        .flat_map(|name| std::env::split_paths(&path).map(move |d| d.join(name)))
        .find(|p| p.is_file())
}

/// Chromium, or `None` when `VIGIL_SKIP_BROWSER=1` says to skip (said on stderr). Without
/// either, the test fails and says how to install it: a missing browser must not pass quietly.
pub fn chromium_or_skip() -> Option<PathBuf> {
    if let Some(p) = chromium() {
        return Some(p);
    }
    if std::env::var("VIGIL_SKIP_BROWSER").is_ok_and(|v| v == "1") {
        eprintln!("SKIPPED: the browser check of report.html (VIGIL_SKIP_BROWSER=1)");
        return None;
    }
    panic!(
        "the report's browser test needs Chromium: install Debian's package \
         (`apt-get install chromium`; `bash .ci/run` does this), point VIGIL_CHROMIUM at a \
         Chromium binary, or set VIGIL_SKIP_BROWSER=1 to skip this one check"
    );
}

/// The layout of one banner, scrolled into view first when `scroll` is set.
fn banner_js(id: &str, scroll: bool) -> String {
    format!(
        r#"JSON.stringify((() => {{
  const e = document.getElementById('{id}');
  if (!e) return null;
  if ({scroll}) window.scrollTo(0, document.documentElement.scrollHeight);
  const r = e.getBoundingClientRect();
  const s = getComputedStyle(e);
  const hit = document.elementFromPoint(r.left + r.width / 2, r.top + r.height / 2);
  return {{
    text: e.textContent.trim(), top: r.top, bottom: r.bottom,
    in_viewport: r.width > 0 && r.height > 0 && r.top >= -1 && r.bottom <= window.innerHeight + 1,
    shown: s.display !== 'none' && s.visibility === 'visible' && parseFloat(s.opacity) > 0,
    on_top: hit !== null && (hit === e || e.contains(hit)),
  }};
}})())"#
    )
}

/// Evaluates `js` (which returns a string) in the page.
fn eval_string(tab: &headless_chrome::Tab, js: &str) -> String {
    let v = tab.evaluate(js, false).unwrap().value;
    v.and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default()
}

/// Opens `page` (a file on disk) in headless Chromium and reports what happened.
pub fn visit(chromium: &Path, page: &Path) -> PageVisit {
    let profile = tempfile::tempdir().unwrap();
    let page = page.canonicalize().unwrap();
    let url = format!("file://{}", page.to_str().unwrap().replace(' ', "%20"));
    let args: Vec<&OsStr> = [
        "--disable-gpu",
        "--disable-quic",
        "--disable-component-update",
        "--disable-domain-reliability",
        "--no-default-browser-check",
        // Every host name is "not found": the page cannot reach the network even if it tried.
        "--host-resolver-rules=MAP * ~NOTFOUND",
    ]
    .iter()
    .map(OsStr::new)
    .collect();
    let browser = Browser::new(LaunchOptions {
        headless: true,
        // Chromium's sandbox refuses to run as root, as CI does; the page is our own file.
        sandbox: false,
        path: Some(chromium.to_path_buf()),
        user_data_dir: Some(profile.path().to_path_buf()),
        window_size: Some(VIEWPORT),
        args,
        idle_browser_timeout: Duration::from_secs(120),
        ..LaunchOptions::default()
    })
    .unwrap_or_else(|e| panic!("starting {chromium:?}: {e}"));
    let tab = browser.new_tab().unwrap();

    #[derive(Default)]
    struct Seen {
        urls: HashMap<String, String>,
        requests: Vec<String>,
        failed: Vec<String>,
        errors: Vec<String>,
    }
    let seen = Arc::new(Mutex::new(Seen::default()));
    let sink = Arc::clone(&seen);
    tab.add_event_listener(Arc::new(move |event: &Event| {
        let mut s = sink.lock().unwrap();
        match event {
            Event::NetworkRequestWillBeSent(e) => {
                let url = e.params.request.url.clone();
                s.urls.insert(e.params.request_id.clone(), url.clone());
                s.requests.push(url);
            }
            Event::NetworkLoadingFailed(e) => {
                let url = s.urls.get(&e.params.request_id).cloned().unwrap_or_default();
                s.failed.push(format!("{url}: {}", e.params.error_text));
            }
            Event::NetworkResponseReceived(e) if e.params.response.status >= 400 => {
                let r = &e.params.response;
                s.failed.push(format!("{}: HTTP {}", r.url, r.status));
            }
            Event::RuntimeExceptionThrown(e) => {
                s.errors.push(e.params.exception_details.text.clone());
            }
            Event::LogEntryAdded(e) if format!("{:?}", e.params.entry.level) == "Error" => {
                s.errors.push(e.params.entry.text.clone());
            }
            _ => {}
        }
    }))
    .unwrap();
    tab.call_method(Network::Enable {
        max_total_buffer_size: None,
        max_resource_buffer_size: None,
        max_post_data_size: None,
        report_direct_socket_traffic: None,
        enable_durable_messages: None,
    })
    .unwrap();
    tab.enable_runtime().unwrap();
    tab.enable_log().unwrap();
    tab.navigate_to(&url).unwrap();
    tab.wait_until_navigated().unwrap();

    // Loaded means the load event has fired: every subresource finished or failed.
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut ready_state = String::new();
    while Instant::now() < deadline {
        ready_state = eval_string(&tab, "document.readyState");
        if ready_state == "complete" {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    // Let the last protocol events arrive.
    std::thread::sleep(Duration::from_millis(500));

    let top: Option<Banner> =
        serde_json::from_str(&eval_string(&tab, &banner_js("classification-top", false))).unwrap();
    let screenshot = tab
        .capture_screenshot(Page::CaptureScreenshotFormatOption::Png, None, None, true)
        .unwrap();
    let svgs: (u64, u64) = serde_json::from_str(&eval_string(
        &tab,
        "JSON.stringify((() => { const all = [...document.querySelectorAll('svg')]; \
         return [all.length, all.filter(s => { const r = s.getBoundingClientRect(); \
         return r.width > 0 && r.height > 0; }).length]; })())",
    ))
    .unwrap();
    let bottom: Option<Banner> =
        serde_json::from_str(&eval_string(&tab, &banner_js("classification-bottom", true))).unwrap();
    let pdf = tab.print_to_pdf(None).unwrap();

    let s = seen.lock().unwrap();
    PageVisit {
        url,
        requests: s.requests.clone(),
        failed: s.failed.clone(),
        errors: s.errors.clone(),
        ready_state,
        top,
        bottom,
        svgs,
        screenshot,
        pdf,
    }
}

/// Width, height and RGBA pixels of a PNG.
fn decode_png(bytes: &[u8]) -> (u32, u32, Vec<u8>) {
    let mut reader = png::Decoder::new(bytes).read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).unwrap();
    buf.truncate(info.buffer_size());
    let rgba = match info.color_type {
        png::ColorType::Rgba => buf,
        png::ColorType::Rgb => buf.chunks(3).flat_map(|p| [p[0], p[1], p[2], 255]).collect(),
        other => panic!("unexpected screenshot colour type {other:?}"),
    };
    (info.width, info.height, rgba)
}

/// Share of the pixels of screenshot row `y` that are the banner's background (#1a1a1a), and
/// whether the row also holds light (text) pixels.
fn banner_row(shot: &[u8], y: f64) -> (f64, bool) {
    let (w, h, px) = decode_png(shot);
    let y = (y.round() as u32).min(h - 1) as usize;
    let row = &px[y * w as usize * 4..(y + 1) * w as usize * 4];
    let dark = row
        .chunks(4)
        .filter(|p| p[0] == 0x1a && p[1] == 0x1a && p[2] == 0x1a)
        .count();
    let light = row.chunks(4).any(|p| p[0] > 200 && p[1] > 200 && p[2] > 200);
    (dark as f64 / f64::from(w), light)
}

/// Number of pages in a PDF that Chromium printed.
fn pdf_pages(pdf: &[u8]) -> usize {
    let text = String::from_utf8_lossy(pdf);
    text.matches("/Type /Page")
        .count()
        .saturating_sub(text.matches("/Type /Pages").count())
}

/// Every check of the report in the browser; `marking` is the run's classification banner text.
pub fn check_report_in_browser(run: &Path, marking: &str) {
    let Some(chromium) = chromium_or_skip() else {
        return;
    };
    let v = visit(&chromium, &run.join("report.html"));
    assert_eq!(v.ready_state, "complete", "the page finished loading");
    assert_eq!(
        v.requests,
        vec![v.url.clone()],
        "the page requests nothing but itself"
    );
    assert!(v.failed.is_empty(), "failed requests: {:?}", v.failed);
    assert!(v.errors.is_empty(), "errors in the page: {:?}", v.errors);
    let top = v.top.as_ref().expect("top banner in the page");
    assert!(top.visible_with(marking), "top banner on screen: {top:?}");
    assert!(top.top < 1.0, "the top banner opens the page: {top:?}");
    let bottom = v.bottom.as_ref().expect("bottom banner in the page");
    assert!(
        bottom.visible_with(marking),
        "bottom banner on screen at the end: {bottom:?}"
    );
    let charts = files(run)
        .iter()
        .filter(|p| p.extension().is_some_and(|e| e == "svg"))
        .count() as u64;
    assert_eq!(v.svgs, (charts, charts), "every chart laid out with a size");

    // The screenshot shows the banner: a dark row across the page with light text in it.
    let (w, _, _) = decode_png(&v.screenshot);
    assert_eq!(w, VIEWPORT.0, "screenshot width");
    let (dark, light) = banner_row(&v.screenshot, (top.top + top.bottom) / 2.0);
    assert!(
        dark > 0.5 && light,
        "banner row in the screenshot: {dark:.2} dark, text {light}"
    );
    assert!(v.pdf.starts_with(b"%PDF-"), "printed to PDF");
    assert!(pdf_pages(&v.pdf) >= 2, "printed pages: {}", pdf_pages(&v.pdf));

    let keep = Path::new(env!("CARGO_TARGET_TMPDIR"));
    std::fs::write(keep.join("report-screenshot.png"), &v.screenshot).unwrap();
    std::fs::write(keep.join("report.pdf"), &v.pdf).unwrap();
}

use crate::files;

/// The checks fail on a page that breaks them: it fetches from outside, a fetch fails, a script
/// throws, and its banner is covered.
#[test]
fn the_browser_check_sees_requests_failures_errors_and_hidden_banners() {
    let Some(chromium) = chromium_or_skip() else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let page = tmp.path().join("leaky.html");
    std::fs::write(
        &page,
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>leaky</title>\
         <style>.banner{background:#1a1a1a;color:#fff;padding:6px}\
         .cover{position:absolute;top:0;left:0;right:0;height:60px;background:#fff}</style>\
         </head><body><div class=\"banner\" id=\"classification-top\">PUBLIC</div>\
         <div class=\"cover\"></div>\
         <img src=\"https://tiles.example.invalid/0/0/0.png\" alt=\"\">\
         <script>throw new Error('boom')</script>\
         <div class=\"banner\" id=\"classification-bottom\" style=\"display:none\">PUBLIC</div>\
         </body></html>",
    )
    .unwrap();
    let v = visit(&chromium, &page);
    assert_eq!(v.ready_state, "complete");
    assert_eq!(v.requests.len(), 2, "{:?}", v.requests);
    assert_eq!(v.requests[1], "https://tiles.example.invalid/0/0/0.png");
    assert!(
        v.failed.iter().any(|f| f.contains("tiles.example.invalid")),
        "{:?}",
        v.failed
    );
    assert!(v.errors.iter().any(|e| e.contains("Uncaught")), "{:?}", v.errors);
    let top = v.top.unwrap();
    assert!(top.in_viewport && top.shown && !top.on_top, "{top:?}");
    assert!(!top.visible_with("PUBLIC"));
    let bottom = v.bottom.unwrap();
    assert!(!bottom.shown && !bottom.visible_with("PUBLIC"), "{bottom:?}");
    // Covered: the screenshot's banner row is white, not the banner's dark grey.
    let (dark, _) = banner_row(&v.screenshot, (top.top + top.bottom) / 2.0);
    assert!(dark < 0.1, "{dark}");
}
