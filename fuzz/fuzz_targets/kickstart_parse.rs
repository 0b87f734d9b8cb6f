//! Any input must parse or fail with an error, never panic; whatever parses must render, and
//! the rendering must be readable again.
#![no_main]

use kiln_kickstart::{parse_str, ParseOptions};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    // No includes or %ksappend: the fuzzer must not read the host's files or the network.
    let opts = ParseOptions { follow_includes: false, ksappend: false, ..ParseOptions::default() };
    if let Ok(ks) = parse_str(&text, "fuzz.ks", &opts) {
        let rendered = ks.render();
        let _ = ks.to_json();
        let _ = parse_str(&rendered, "rendered.ks", &opts);
    }
});
