//! Small readers for repomd.xml, comps and metalink on top of quick-xml. Repository metadata is
//! untrusted input: every failure is an error value, never a panic.

use quick_xml::events::{BytesStart, BytesText, Event};
use quick_xml::Reader;

/// A repository metadata document that does not parse.
#[derive(Debug, thiserror::Error)]
pub enum RepodataError {
    /// Not well-formed XML (or a bad entity).
    #[error(transparent)]
    Xml(#[from] quick_xml::Error),
    /// Well-formed, but no `<repomd>` document.
    #[error("not a repomd.xml document")]
    NotRepomd,
}

/// An expected digest.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Checksum {
    /// `sha256`, `sha512`, ... (`sha` means sha1, as createrepo wrote it).
    pub kind: String,
    /// Lowercase hex.
    pub hex: String,
}

/// One `<data>` record of repomd.xml.
#[derive(Debug, Clone, Default)]
pub struct RepomdRecord {
    /// `primary`, `filelists`, `group`, ...
    pub kind: String,
    /// `location href`, relative to the repo base.
    pub href: String,
    /// Checksum of the file as stored.
    pub checksum: Option<Checksum>,
    /// Size as stored.
    pub size: Option<u64>,
}

fn local(name: &[u8]) -> &[u8] {
    match name.iter().rposition(|&b| b == b':') {
        Some(i) => &name[i + 1..],
        None => name,
    }
}

/// An element's text, entities resolved, blanks trimmed.
fn trimmed_text(t: &BytesText<'_>) -> Result<String, RepodataError> {
    let text = t.unescape()?;
    Ok(text.trim().to_string())
}

fn attr(e: &BytesStart<'_>, key: &[u8]) -> Option<String> {
    e.attributes().flatten().find_map(|a| {
        (local(a.key.as_ref()) == key).then(|| {
            a.unescape_value()
                .map(|v| v.into_owned())
                .unwrap_or_else(|_| String::from_utf8_lossy(&a.value).into_owned())
        })
    })
}

/// Parse repomd.xml.
pub fn parse_repomd(text: &str) -> Result<Vec<RepomdRecord>, RepodataError> {
    let mut r = Reader::from_str(text);
    let mut out = Vec::new();
    let mut cur: Option<RepomdRecord> = None;
    let mut in_tag: Vec<u8> = Vec::new();
    let mut ck_kind = String::new();
    loop {
        match r.read_event()? {
            Event::Start(e) | Event::Empty(e) if local(e.name().as_ref()) == b"data" => {
                cur = Some(RepomdRecord {
                    kind: attr(&e, b"type").unwrap_or_default(),
                    ..Default::default()
                });
            }
            Event::Start(e) | Event::Empty(e) => {
                let n = local(e.name().as_ref()).to_vec();
                if let Some(c) = cur.as_mut() {
                    match n.as_slice() {
                        b"location" => c.href = attr(&e, b"href").unwrap_or_default(),
                        b"checksum" => ck_kind = attr(&e, b"type").unwrap_or_default(),
                        _ => {}
                    }
                }
                in_tag = n;
            }
            Event::Text(t) => {
                let v = trimmed_text(&t)?;
                if let Some(c) = cur.as_mut() {
                    match in_tag.as_slice() {
                        b"checksum" => {
                            c.checksum = Some(Checksum {
                                kind: ck_kind.clone(),
                                hex: v.to_ascii_lowercase(),
                            })
                        }
                        b"size" => c.size = v.parse().ok(),
                        _ => {}
                    }
                }
            }
            Event::End(e) => {
                if local(e.name().as_ref()) == b"data" {
                    if let Some(c) = cur.take() {
                        out.push(c);
                    }
                }
                in_tag.clear();
            }
            Event::Eof => break,
            _ => {}
        }
    }
    if out.is_empty() && !text.contains("repomd") {
        return Err(RepodataError::NotRepomd);
    }
    Ok(out)
}

/// What a comps `packagereq` asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ReqType {
    /// Always installed with the group.
    Mandatory,
    /// Installed unless `--nodefaults`.
    Default,
    /// Only with `--optional`.
    Optional,
    /// Installed when `requires` is installed.
    Conditional,
}

/// One package of a group.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct GroupPackage {
    /// Package name.
    pub name: String,
    /// Type.
    pub kind: ReqType,
    /// Condition for conditional packages.
    pub requires: Option<String>,
    /// Only on these basearches (`arch="x86_64,aarch64"`), when set.
    pub arches: Option<Vec<String>>,
}

/// A comps group.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Group {
    /// Id.
    pub id: String,
    /// Untranslated name.
    pub name: String,
    /// Packages.
    pub packages: Vec<GroupPackage>,
}

/// A comps environment.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Environment {
    /// Id.
    pub id: String,
    /// Untranslated name.
    pub name: String,
    /// Groups always installed.
    pub groups: Vec<String>,
    /// Optional groups (with whether `default="true"`).
    pub options: Vec<(String, bool)>,
}

/// Parsed comps.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Comps {
    /// Groups.
    pub groups: Vec<Group>,
    /// Environments.
    pub environments: Vec<Environment>,
}

impl Comps {
    /// Merge another repo's comps: groups with the same id get the union of their packages.
    pub fn merge(&mut self, other: Comps) {
        for g in other.groups {
            match self.groups.iter_mut().find(|x| x.id == g.id) {
                Some(x) => {
                    for p in g.packages {
                        if !x.packages.iter().any(|q| q.name == p.name) {
                            x.packages.push(p);
                        }
                    }
                }
                None => self.groups.push(g),
            }
        }
        for e in other.environments {
            match self.environments.iter_mut().find(|x| x.id == e.id) {
                Some(x) => {
                    for g in e.groups {
                        if !x.groups.contains(&g) {
                            x.groups.push(g);
                        }
                    }
                    for o in e.options {
                        if !x.options.iter().any(|(n, _)| *n == o.0) {
                            x.options.push(o);
                        }
                    }
                }
                None => self.environments.push(e),
            }
        }
    }

    /// A group by id or (untranslated) name, as dnf matches `@group`.
    pub fn group(&self, id: &str) -> Option<&Group> {
        self.groups
            .iter()
            .find(|g| g.id == id)
            .or_else(|| self.groups.iter().find(|g| g.name.eq_ignore_ascii_case(id)))
    }

    /// An environment by id or name.
    pub fn environment(&self, id: &str) -> Option<&Environment> {
        self.environments.iter().find(|g| g.id == id).or_else(|| {
            self.environments
                .iter()
                .find(|g| g.name.eq_ignore_ascii_case(id))
        })
    }
}

/// Parse a comps document.
pub fn parse_comps(text: &str) -> Result<Comps, RepodataError> {
    #[derive(PartialEq)]
    enum In {
        None,
        Group,
        Env,
        Other,
    }
    let mut r = Reader::from_str(text);
    let mut comps = Comps::default();
    let mut ctx = In::None;
    let mut group = Group::default();
    let mut env = Environment::default();
    let mut list = Vec::<u8>::new();
    let mut tag = Vec::<u8>::new();
    let mut lang_attr = false;
    let mut pending_req: Option<GroupPackage> = None;
    let mut pending_opt_default = false;
    loop {
        let ev = r.read_event()?;
        match ev {
            Event::Start(e) => {
                let n = local(e.name().as_ref()).to_vec();
                match (n.as_slice(), &ctx) {
                    (b"group", In::None) => {
                        ctx = In::Group;
                        group = Group::default();
                    }
                    (b"environment", In::None) => {
                        ctx = In::Env;
                        env = Environment::default();
                    }
                    (b"category" | b"langpacks", In::None) => ctx = In::Other,
                    (b"packagelist" | b"grouplist" | b"optionlist", _) => list = n.clone(),
                    (b"packagereq", In::Group) => {
                        let kind = match attr(&e, b"type").as_deref() {
                            Some("mandatory") => ReqType::Mandatory,
                            Some("optional") => ReqType::Optional,
                            Some("conditional") => ReqType::Conditional,
                            _ => ReqType::Default,
                        };
                        pending_req = Some(GroupPackage {
                            name: String::new(),
                            kind,
                            requires: attr(&e, b"requires"),
                            arches: attr(&e, b"arch")
                                .map(|a| a.split(',').map(|s| s.trim().to_string()).collect()),
                        });
                    }
                    (b"groupid", In::Env) => {
                        pending_opt_default = attr(&e, b"default").as_deref() == Some("true")
                    }
                    _ => {}
                }
                lang_attr = e
                    .attributes()
                    .flatten()
                    .any(|a| local(a.key.as_ref()) == b"lang");
                tag = n;
            }
            Event::Text(t) => {
                let v = trimmed_text(&t)?;
                match (&ctx, tag.as_slice()) {
                    (In::Group, b"id") => group.id = v,
                    (In::Group, b"name") if !lang_attr => group.name = v,
                    (In::Env, b"id") => env.id = v,
                    (In::Env, b"name") if !lang_attr => env.name = v,
                    (In::Group, b"packagereq") => {
                        if let Some(p) = pending_req.as_mut() {
                            p.name = v;
                        }
                    }
                    (In::Env, b"groupid") => {
                        if list == b"optionlist" {
                            env.options.push((v, pending_opt_default));
                        } else {
                            env.groups.push(v);
                        }
                    }
                    _ => {}
                }
            }
            Event::End(e) => {
                let qn = e.name();
                let n = local(qn.as_ref());
                match (n, &ctx) {
                    (b"group", In::Group) => {
                        comps.groups.push(std::mem::take(&mut group));
                        ctx = In::None;
                    }
                    (b"environment", In::Env) => {
                        comps.environments.push(std::mem::take(&mut env));
                        ctx = In::None;
                    }
                    (b"category" | b"langpacks", In::Other) => ctx = In::None,
                    (b"packagereq", In::Group) => {
                        if let Some(p) = pending_req.take().filter(|p| !p.name.is_empty()) {
                            group.packages.push(p);
                        }
                    }
                    _ => {}
                }
                tag.clear();
            }
            Event::Eof => break,
            _ => {}
        }
    }
    Ok(comps)
}

/// A parsed metalink: where repomd.xml lives and the hashes it may have.
#[derive(Debug, Clone, Default)]
pub struct Metalink {
    /// repomd.xml URLs, by preference (highest first).
    pub urls: Vec<String>,
    /// Acceptable hashes of repomd.xml (current and alternates).
    pub hashes: Vec<Checksum>,
}

/// Parse a metalink (Fedora's MirrorManager format).
pub fn parse_metalink(text: &str) -> Result<Metalink, RepodataError> {
    let mut r = Reader::from_str(text);
    let mut m = Metalink::default();
    let mut urls: Vec<(i64, String)> = Vec::new();
    let mut tag = Vec::<u8>::new();
    let mut hash_kind = String::new();
    let mut pref = 0i64;
    let mut in_repomd = false;
    loop {
        match r.read_event()? {
            Event::Start(e) => {
                let n = local(e.name().as_ref()).to_vec();
                match n.as_slice() {
                    b"file" => in_repomd = attr(&e, b"name").as_deref() == Some("repomd.xml"),
                    b"hash" => hash_kind = attr(&e, b"type").unwrap_or_default(),
                    b"url" => {
                        pref = attr(&e, b"preference")
                            .and_then(|p| p.parse().ok())
                            .unwrap_or(0)
                    }
                    _ => {}
                }
                tag = n;
            }
            Event::Text(t) if in_repomd => {
                let v = trimmed_text(&t)?;
                match tag.as_slice() {
                    b"hash" => m.hashes.push(Checksum {
                        kind: hash_kind.clone(),
                        hex: v.to_ascii_lowercase(),
                    }),
                    b"url" if !v.is_empty() => urls.push((pref, v)),
                    _ => {}
                }
            }
            Event::End(_) => tag.clear(),
            Event::Eof => break,
            _ => {}
        }
    }
    urls.sort_by_key(|u| std::cmp::Reverse(u.0));
    m.urls = urls.into_iter().map(|(_, u)| u).collect();
    Ok(m)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comps_types_and_envs() {
        let c = parse_comps(
            r#"<comps><group><id>core</id><name>Core</name><name xml:lang="de">Kern</name>
            <packagelist><packagereq type="mandatory">bash</packagereq>
            <packagereq>dnf</packagereq><packagereq type="optional">zsh</packagereq>
            <packagereq type="conditional" requires="foo">foo-langpack</packagereq>
            <packagereq arch="aarch64">uboot</packagereq></packagelist></group>
            <environment><id>e</id><name>E</name><grouplist><groupid>core</groupid></grouplist>
            <optionlist><groupid default="true">x</groupid><groupid>y</groupid></optionlist>
            </environment></comps>"#,
        )
        .unwrap();
        let g = c.group("core").unwrap();
        assert_eq!(g.name, "Core");
        let kinds: Vec<_> = g
            .packages
            .iter()
            .map(|p| (p.name.as_str(), p.kind))
            .collect();
        assert_eq!(
            kinds,
            vec![
                ("bash", ReqType::Mandatory),
                ("dnf", ReqType::Default),
                ("zsh", ReqType::Optional),
                ("foo-langpack", ReqType::Conditional),
                ("uboot", ReqType::Default)
            ]
        );
        assert_eq!(g.packages[3].requires.as_deref(), Some("foo"));
        assert_eq!(g.packages[4].arches, Some(vec!["aarch64".to_string()]));
        let e = c.environment("e").unwrap();
        assert_eq!(e.groups, vec!["core"]);
        assert_eq!(
            e.options,
            vec![("x".to_string(), true), ("y".to_string(), false)]
        );
    }

    #[test]
    fn metalink_hashes_and_order() {
        let m = parse_metalink(
            r#"<metalink xmlns="http://www.metalinker.org/"><files><file name="repomd.xml">
            <verification><hash type="sha256">AB</hash></verification><resources>
            <url protocol="http" preference="10">http://b/repodata/repomd.xml</url>
            <url protocol="http" preference="90">http://a/repodata/repomd.xml</url>
            </resources></file></files></metalink>"#,
        )
        .unwrap();
        assert_eq!(m.urls[0], "http://a/repodata/repomd.xml");
        assert_eq!(m.hashes[0].hex, "ab");
    }
}
