//! Which repositories to use: the kickstart's `url` and `repo` lines (with `$releasever`,
//! `$basearch`, `$arch` substituted), or `--repo NAME,URL` arguments that replace them (as Koji's
//! `--repo` does).

use crate::kickstart::commands::{repo::Repo, url::Url};
use crate::kickstart::{Kickstart, Origin};

use super::RepoError;

/// Where a repository's metadata is found.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    /// A base URL (the directory holding `repodata/`).
    BaseUrl(String),
    /// A mirror list (one base URL a line).
    Mirrorlist(String),
    /// A metalink (repomd.xml URLs with hashes).
    Metalink(String),
}

/// One repository to load.
#[derive(Debug, Clone, serde::Serialize)]
pub struct RepoSpec {
    /// Repo id.
    pub name: String,
    /// Where its metadata lives.
    pub source: Source,
    /// dnf cost (lower wins among equal versions).
    pub cost: i32,
    /// Only these name globs from this repo.
    pub includepkgs: Vec<String>,
    /// Never these name globs from this repo.
    pub excludepkgs: Vec<String>,
    /// Per-repo proxy.
    pub proxy: Option<String>,
    /// The kickstart line (None for `--repo`).
    pub origin: Option<Origin>,
}

/// Map a target arch to dnf's `$basearch`.
pub fn basearch(arch: &str) -> &str {
    match arch {
        "i386" | "i486" | "i586" | "i686" | "athlon" | "geode" | "pentium3" | "pentium4" => "i386",
        "armv7hl" | "armv7hnl" | "armv8hl" => "armhfp",
        "ppc64le" | "ppc64p7" => "ppc64le",
        a if a.starts_with("x86_64") => "x86_64",
        a => a,
    }
}

/// Substitute dnf variables (`$var` and `${var}`).
pub fn substitute(s: &str, releasever: Option<&str>, arch: &str) -> String {
    let mut vars = vec![("basearch", basearch(arch)), ("arch", arch)];
    if let Some(r) = releasever {
        vars.push(("releasever", r));
    }
    let mut out = s.to_string();
    for (k, v) in vars {
        out = out.replace(&format!("${{{k}}}"), v);
        out = out.replace(&format!("${k}"), v);
    }
    out
}

/// Parse `--repo NAME,URL` (any `,gpgkey=KEY` options after the URL are left out: see
/// [`parse_repo_arg_keys`]).
pub fn parse_repo_arg(s: &str) -> Result<(String, String), RepoError> {
    parse_repo_arg_keys(s).map(|(n, u, _)| (n, u))
}

/// Parse `--repo NAME,URL[,gpgkey=KEY]...`: the repository and the signing keys trusted for it.
pub fn parse_repo_arg_keys(s: &str) -> Result<(String, String, Vec<String>), RepoError> {
    let Some((name, rest)) = s.split_once(',') else {
        return Err(RepoError::BadRepoArg(s.to_string()));
    };
    // Options follow the URL as `,key=value`; a URL keeps any other comma it contains.
    let mut parts = rest.split(",gpgkey=");
    let url = parts.next().unwrap_or("");
    let keys: Vec<String> = parts.map(str::to_string).collect();
    if name.is_empty() || url.is_empty() || keys.iter().any(String::is_empty) {
        return Err(RepoError::BadRepoArg(s.to_string()));
    }
    Ok((name.to_string(), url.to_string(), keys))
}

fn check_url(url: &str, origin: Option<&Origin>) -> Result<(), RepoError> {
    if url.contains("$releasever") || url.contains("${releasever}") {
        return Err(RepoError::NoReleasever {
            url: url.to_string(),
            origin: origin.cloned(),
        });
    }
    if ["file://", "http://", "https://"]
        .iter()
        .any(|p| url.starts_with(p))
    {
        Ok(())
    } else {
        Err(RepoError::BadUrl {
            url: url.to_string(),
            origin: origin.cloned(),
        })
    }
}

/// The repositories of a build: `cli` (NAME,URL pairs) if any, else the kickstart's.
pub fn repo_specs(
    ks: &Kickstart,
    cli: &[(String, String)],
    releasever: Option<&str>,
    arch: &str,
) -> Result<Vec<RepoSpec>, RepoError> {
    let sub = |s: &str| substitute(s, releasever, arch);
    let mut out = Vec::new();
    if !cli.is_empty() {
        for (name, url) in cli {
            let url = sub(url);
            check_url(&url, None)?;
            out.push(RepoSpec {
                name: name.clone(),
                source: Source::BaseUrl(url),
                cost: 1000,
                includepkgs: Vec::new(),
                excludepkgs: Vec::new(),
                proxy: None,
                origin: None,
            });
        }
        return Ok(out);
    }
    if let Some(u) = ks.command::<Url>().filter(|u| u.seen) {
        let origin = ks.slot("url").and_then(|s| s.lines.last().cloned());
        let nonempty = |v: &Option<String>| v.as_deref().filter(|s| !s.is_empty()).map(sub);
        let source = if let Some(x) = nonempty(&u.url) {
            Source::BaseUrl(x)
        } else if let Some(x) = nonempty(&u.mirrorlist) {
            Source::Mirrorlist(x)
        } else if let Some(x) = nonempty(&u.metalink) {
            Source::Metalink(x)
        } else {
            return Err(RepoError::NoRepos);
        };
        let (Source::BaseUrl(x) | Source::Mirrorlist(x) | Source::Metalink(x)) = &source;
        check_url(x, origin.as_ref())?;
        out.push(RepoSpec {
            name: "anaconda".into(),
            source,
            cost: 1000,
            includepkgs: Vec::new(),
            excludepkgs: Vec::new(),
            proxy: u.proxy.clone().filter(|p| !p.is_empty()),
            origin,
        });
    }
    if let Some(r) = ks.command::<Repo>() {
        let slot = ks.slot("repo");
        for (i, d) in r.repos.iter().enumerate() {
            let origin = slot.and_then(|s| s.item_origins.get(&i).cloned());
            let nonempty = |v: &Option<String>| v.as_deref().filter(|s| !s.is_empty()).map(sub);
            let source = if let Some(x) = nonempty(&d.baseurl) {
                Source::BaseUrl(x)
            } else if let Some(x) = nonempty(&d.mirrorlist) {
                Source::Mirrorlist(x)
            } else if let Some(x) = nonempty(&d.metalink) {
                Source::Metalink(x)
            } else {
                // pykickstart accepts a repo without a URL (Anaconda uses it to tweak a
                // system repo); a live build has nothing to fetch from it.
                tracing::warn!(repo = %d.name, "repo has no baseurl, mirrorlist or metalink; skipped");
                continue;
            };
            let (Source::BaseUrl(x) | Source::Mirrorlist(x) | Source::Metalink(x)) = &source;
            check_url(x, origin.as_ref())?;
            out.push(RepoSpec {
                name: d.name.clone(),
                source,
                cost: d
                    .cost
                    .unwrap_or(1000)
                    .clamp(i32::MIN as i64, i32::MAX as i64) as i32,
                includepkgs: d.includepkgs.clone(),
                excludepkgs: d.excludepkgs.clone(),
                proxy: d.proxy.clone().filter(|p| !p.is_empty()),
                origin,
            });
        }
    }
    if out.is_empty() {
        return Err(RepoError::NoRepos);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn substitution() {
        assert_eq!(
            substitute(
                "https://x/$releasever/${basearch}/os/$arch",
                Some("41"),
                "i686"
            ),
            "https://x/41/i386/os/i686"
        );
        assert_eq!(basearch("aarch64"), "aarch64");
    }

    #[test]
    fn cli_repos_replace_kickstart() {
        let ks = crate::kickstart::parse_str(
            "repo --name=a --baseurl=file:///a/$basearch --cost=5 --excludepkgs=foo*\n",
            "ks.cfg",
            &Default::default(),
        )
        .unwrap();
        let r = repo_specs(&ks, &[], Some("41"), "aarch64").unwrap();
        assert_eq!(r[0].source, Source::BaseUrl("file:///a/aarch64".into()));
        assert_eq!(r[0].cost, 5);
        assert_eq!(r[0].excludepkgs, vec!["foo*".to_string()]);
        assert_eq!(r[0].origin.as_ref().unwrap().line, 1);
        let r = repo_specs(
            &ks,
            &[("b".into(), "http://h/$releasever".into())],
            Some("41"),
            "x86_64",
        )
        .unwrap();
        assert_eq!(r.len(), 1);
        assert_eq!(r[0].source, Source::BaseUrl("http://h/41".into()));
        assert!(matches!(
            parse_repo_arg("nocomma"),
            Err(RepoError::BadRepoArg(_))
        ));
        assert_eq!(
            parse_repo_arg_keys("f,http://h/x?a=1,2,gpgkey=/k1,gpgkey=file:///k2").unwrap(),
            (
                "f".to_string(),
                "http://h/x?a=1,2".to_string(),
                vec!["/k1".to_string(), "file:///k2".to_string()]
            )
        );
        assert!(matches!(
            parse_repo_arg_keys("f,http://h,gpgkey="),
            Err(RepoError::BadRepoArg(_))
        ));
        assert!(matches!(
            repo_specs(
                &ks,
                &[("b".into(), "http://h/$releasever".into())],
                None,
                "x86_64"
            ),
            Err(RepoError::NoReleasever { .. })
        ));
    }
}
