//! `kiln diff A.iso B.iso`.

use super::args::DiffArgs;
use super::resolve::cause_chain;
use super::{EXIT_ENV, EXIT_OK};

/// Exit code when the images differ (as diff(1)).
const EXIT_DIFFER: i32 = 1;

/// `kiln diff`.
pub fn run(a: &DiffArgs) -> anyhow::Result<i32> {
    let diffs = match kiln::diff::diff_isos(&a.a, &a.b) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("error: {}", cause_chain(&e));
            return Ok(EXIT_ENV);
        }
    };
    if a.json {
        println!("{}", serde_json::to_string_pretty(&diffs)?);
    } else {
        for d in &diffs {
            if d.detail.is_empty() {
                println!("{:<9} {}", d.what, d.path);
            } else {
                println!("{:<9} {} ({})", d.what, d.path, d.detail);
            }
        }
    }
    if diffs.is_empty() {
        eprintln!("identical");
        Ok(EXIT_OK)
    } else {
        Ok(EXIT_DIFFER)
    }
}
